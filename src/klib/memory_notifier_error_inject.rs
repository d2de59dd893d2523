//! `lib/memory-notifier-error-inject.c` and `lib/notifier-error-inject.c`:
//! a memory notifier whose debugfs files
//! `notifier-error-inject/memory/actions/{MEM_GOING_ONLINE,MEM_GOING_OFFLINE}/error`
//! make it return `notifier_from_errno(error)` at that action.
//!
//! The model registers it at boot, at priority 0 (its `priority` parameter's
//! default), below `slab_memory_callback`; a value of 0 injects nothing. A
//! positive value is stored as 0, and a value below `-MAX_ERRNO` as
//! `-MAX_ERRNO`, as the debugfs file's `errno` attribute clamps it. Left
//! out: the module load itself, and the other injectors (cpu, pm, netdev).

use crate::drivers::base::memory::MemAction;
use crate::errno::*;
use crate::kernel::Kernel;

/// `MAX_ERRNO`.
const MAX_ERRNO: i32 = 4095;

impl Kernel {
    /// The notifier: 0, or the injected errno (logged as the kernel does).
    pub fn memory_notifier_error_inject(&self, action: MemAction) -> i32 {
        let err = match action {
            MemAction::GoingOnline => self.s().mem.inject_going_online,
            MemAction::GoingOffline => self.s().mem.inject_going_offline,
            _ => 0,
        };
        if err != 0 {
            self.log(format!("Injecting error ({err}) to {}", action.name()));
        }
        err
    }

    /// A write to `.../actions/<ACTION>/error`.
    pub fn notifier_error_inject_store(&self, action: MemAction, buf: &str) -> i32 {
        let v: i64 = match buf.trim().parse() {
            Ok(v) => v,
            Err(_) => return -EINVAL,
        };
        let v = v.clamp(-i64::from(MAX_ERRNO), 0) as i32;
        let mut s = self.s();
        match action {
            MemAction::GoingOnline => s.mem.inject_going_online = v,
            _ => s.mem.inject_going_offline = v,
        }
        0
    }
}
