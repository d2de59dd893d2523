//! `mm/slub.c`, the part memory hotplug reaches: `slab_memory_callback`, the
//! memory notifier at `SLAB_CALLBACK_PRI` (1).
//!
//! When a node gets its first memory (`MEM_GOING_ONLINE` with
//! `status_change_nid >= 0`), `slab_mem_going_online_callback` allocates
//! every cache's `kmem_cache_node` for it under `slab_mutex`; when the node
//! loses its last memory (`MEM_OFFLINE`, `MEM_CANCEL_ONLINE`),
//! `slab_mem_offline_callback` frees them. `MEM_GOING_OFFLINE` shrinks the
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
        let mutex = s.slab.slab_mutex;
        let node_changes = match action {
            MemAction::GoingOnline => !s.mem.nodes_with_memory.contains(&nid),
            MemAction::Offline | MemAction::CancelOnline => !s.mem.nodes_with_memory.contains(&nid),
            MemAction::GoingOffline => true,
            _ => false,
        };
        if !node_changes {
            return 0;
        }
        // mutex_lock(&slab_mutex): the model records the dependency without
        // sleeping here (nothing else takes slab_mutex around a notifier).
        let cur = s.current;
        let held = s.tasks[cur].held.clone();
        let by = Kernel::comm_of(&s, cur);
        if !held.is_empty() {
            s.locks.depend(mutex, &held, cur, &by);
        }
        let what = match action {
            MemAction::GoingOnline => {
                s.mem.slab_nodes.insert(nid);
                format!("slab_mem_going_online_callback: kmem_cache_node for node {nid}, under slab_mutex")
            }
            MemAction::Offline | MemAction::CancelOnline => {
                s.mem.slab_nodes.remove(&nid);
                format!("slab_mem_offline_callback: free the kmem_cache_node of node {nid}, under slab_mutex")
            }
            _ => "slab_mem_going_offline_callback: __kmem_cache_do_shrink, under slab_mutex".to_string(),
        };
        drop(s);
        self.step(what);
        0
    }
}
