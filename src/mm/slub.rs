//! `mm/slub.c`, the part memory hotplug reaches: `slab_memory_callback`, the
//! memory notifier at `SLAB_CALLBACK_PRI` (1).
//!
//! When a node gets its first memory in a kernel zone (`MEM_GOING_ONLINE`
//! with `status_change_nid_normal >= 0`), `slab_mem_going_online_callback`
//! allocates every cache's `kmem_cache_node` for it and sets it in
//! `slab_nodes`, under `slab_mutex`; when that is undone or the node loses
//! its last such memory (`MEM_CANCEL_ONLINE`, `MEM_OFFLINE`),
//! `slab_mem_offline_callback` clears it from `slab_nodes` (6.1 no longer
//! frees the structures). `MEM_GOING_OFFLINE` shrinks the
//! caches (`slab_mem_going_offline_callback`), also under `slab_mutex`. The
//! model tracks which nodes have the structures, and takes `slab_mutex`
//! where the kernel does, so the lock validator sees
//! `mem_hotplug_lock → slab_mutex`. Left out: the caches' objects, and
//! allocation failure (`-ENOMEM`) of the per-node structures.

use crate::drivers::base::memory::MemAction;
use crate::kernel::Kernel;

impl Kernel {
    /// `slab_memory_callback()`: 0 (`NOTIFY_OK`) or an errno.
    pub fn slab_memory_callback(&self, action: MemAction, b: usize) -> i32 {
        let mut s = self.s();
        let nid = s.mem.blocks[b].nid;
        // status_change_nid_normal: the block goes to (or leaves) a kernel
        // zone of a node with no other such memory.
        let kernel_zone = |z: Option<&str>| z.is_some_and(|z| z != "Movable");
        let first_normal = kernel_zone(s.mem.blocks[b].onlining) && !s.mem.nodes_with_normal.contains(&nid);
        let what = match action {
            MemAction::GoingOnline if first_normal => {
                s.mem.slab_nodes.insert(nid);
                format!(
                    "slab_mem_going_online_callback: kmem_cache_node for node {nid}, node_set(slab_nodes), under slab_mutex"
                )
            }
            MemAction::CancelOnline if first_normal => {
                s.mem.slab_nodes.remove(&nid);
                format!("slab_mem_offline_callback: node_clear(slab_nodes) for node {nid}, under slab_mutex")
            }
            MemAction::Offline if !s.mem.nodes_with_normal.contains(&nid) && s.mem.slab_nodes.contains(&nid) => {
                s.mem.slab_nodes.remove(&nid);
                format!("slab_mem_offline_callback: node_clear(slab_nodes) for node {nid}, under slab_mutex")
            }
            MemAction::GoingOffline => {
                "slab_mem_going_offline_callback: __kmem_cache_do_shrink, under slab_mutex".to_string()
            }
            _ => return 0,
        };
        // mutex_lock(&slab_mutex): the model records the dependency without
        // sleeping here (nothing else takes slab_mutex around a notifier).
        let mutex = s.slab.slab_mutex;
        let cur = s.current;
        let held = s.tasks[cur].held.clone();
        let by = Kernel::comm_of(&s, cur);
        if !held.is_empty() {
            s.locks.depend(mutex, &held, cur, &by);
        }
        drop(s);
        self.step(what);
        0
    }
}
