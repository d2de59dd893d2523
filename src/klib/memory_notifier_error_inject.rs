//! `lib/memory-notifier-error-inject.c` and `lib/notifier-error-inject.c`:
//! a memory notifier whose debugfs files
//! `notifier-error-inject/memory/actions/{MEM_GOING_ONLINE,MEM_GOING_OFFLINE}/error`
//! make it return `notifier_from_errno(error)` at that action.
//!
//! The model registers it at boot, at priority 0 (its `priority` parameter's
//! default), below `slab_memory_callback`; a value of 0 injects nothing. The
//! debugfs file parses like `kstrtoll(buf, 0)` and clamps like `clamp_t(int,
//! val, -MAX_ERRNO, 0)`. Left
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

    /// A write to `.../actions/<ACTION>/error`: `kstrtoll(buf, 0)`, then
    /// `clamp_t(int, val, -MAX_ERRNO, 0)` (the conversion to `int` comes
    /// first).
    pub fn notifier_error_inject_store(&self, action: MemAction, buf: &str) -> i32 {
        let v = match kstrtoll(buf) {
            Ok(v) => v,
            Err(e) => return e,
        };
        let v = (v as i32).clamp(-MAX_ERRNO, 0);
        let mut s = self.s();
        match action {
            MemAction::GoingOnline => s.mem.inject_going_online = v,
            _ => s.mem.inject_going_offline = v,
        }
        0
    }
}

/// `kstrtoll(buf, 0, ...)`: one trailing newline, `0x` hex and leading-`0`
/// octal, `-ERANGE` on overflow.
fn kstrtoll(buf: &str) -> Result<i64, i32> {
    let t = buf.strip_suffix('\n').unwrap_or(buf);
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(-EINVAL);
    }
    let v = u64::from_str_radix(digits, radix).map_err(|_| -ERANGE)?;
    match (neg, i64::try_from(v)) {
        (false, Ok(v)) => Ok(v),
        (true, _) if v <= i64::MAX as u64 + 1 => Ok((v as i64).wrapping_neg()),
        _ => Err(-ERANGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kstrtoll_like_the_kernel() {
        assert_eq!(kstrtoll("-12\n"), Ok(-12));
        assert_eq!(kstrtoll("-012"), Ok(-10));
        assert_eq!(kstrtoll("0x10"), Ok(16));
        assert_eq!(kstrtoll("-12\n\n"), Err(-EINVAL));
        assert_eq!(kstrtoll("99999999999999999999"), Err(-ERANGE));
        assert_eq!((4294967295_i64 as i32).clamp(-MAX_ERRNO, 0), -1);
    }
}
