//! A fixed-size CPU mask, printed as a kernel cpulist (`0-2,5`).
//!
//! Models `struct cpumask` for up to [`CPUS_MAX`] CPUs. Left out: variable
//! `NR_CPUS` and off-stack masks.

use std::fmt;

/// The largest machine the model builds: a two-socket server of today has
/// 256 hardware threads.
pub const CPUS_MAX: usize = 256;

/// 64-bit words of a mask.
const WORDS: usize = CPUS_MAX / 64;

/// CPU `n` is bit `n % 64` of word `n / 64`: words compare from the lowest
/// CPUs up, so masks within the first 64 CPUs order as their 64-bit values.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CpuMask([u64; WORDS]);

impl CpuMask {
    pub const fn empty() -> Self {
        CpuMask([0; WORDS])
    }

    /// `cpumask_of(cpu)`.
    pub fn of(cpu: usize) -> Self {
        let mut m = CpuMask::empty();
        m.set(cpu);
        m
    }

    /// CPUs `0..n`.
    pub fn first_n(n: usize) -> Self {
        assert!(n <= CPUS_MAX, "machine larger than CPUS_MAX");
        let mut m = CpuMask::empty();
        for (w, word) in m.0.iter_mut().enumerate() {
            let bits = n.saturating_sub(w * 64).min(64);
            *word = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
        }
        m
    }

    /// A cpulist such as `1-3,5` of CPUs below `cpus` (the format of
    /// `cpulist_parse`, lib/bitmap.c); `None` if it is not one.
    pub fn parse_list(text: &str, cpus: usize) -> Option<Self> {
        let mut m = CpuMask::empty();
        for part in text.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
            if a > b || b >= cpus {
                return None;
            }
            (a..=b).for_each(|c| m.set(c));
        }
        Some(m)
    }

    pub fn test(self, cpu: usize) -> bool {
        cpu < CPUS_MAX && self.0[cpu / 64] & (1 << (cpu % 64)) != 0
    }

    pub fn set(&mut self, cpu: usize) {
        self.0[cpu / 64] |= 1 << (cpu % 64);
    }

    pub fn clear(&mut self, cpu: usize) {
        self.0[cpu / 64] &= !(1 << (cpu % 64));
    }

    pub fn assign(&mut self, cpu: usize, on: bool) {
        if on { self.set(cpu) } else { self.clear(cpu) }
    }

    pub fn weight(self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// `cpumask_first`: the lowest CPU in the mask.
    pub fn first(self) -> Option<usize> {
        self.0.iter().enumerate().find(|(_, w)| **w != 0).map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    /// `cpumask_and()`.
    pub fn and(self, other: CpuMask) -> CpuMask {
        let mut m = self;
        for (w, o) in m.0.iter_mut().zip(other.0) {
            *w &= o;
        }
        m
    }

    pub fn is_subset_of(self, other: CpuMask) -> bool {
        self.0.iter().zip(other.0).all(|(a, b)| a & !b == 0)
    }

    /// The CPUs in ascending order, as `for_each_cpu` visits them: word by
    /// word, set bit by set bit.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        self.0.into_iter().enumerate().flat_map(|(i, mut w)| {
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let b = w.trailing_zeros() as usize;
                    w &= w - 1;
                    i * 64 + b
                })
            })
        })
    }
}

impl std::ops::BitAnd for CpuMask {
    type Output = CpuMask;

    /// `cpumask_and()`.
    fn bitand(mut self, other: CpuMask) -> CpuMask {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a &= b;
        }
        self
    }
}

impl fmt::Display for CpuMask {
    /// The cpulist format of `/sys/devices/system/cpu/online`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut cpu = 0;
        while cpu < CPUS_MAX {
            if !self.test(cpu) {
                cpu += 1;
                continue;
            }
            let start = cpu;
            while cpu + 1 < CPUS_MAX && self.test(cpu + 1) {
                cpu += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == cpu {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{cpu}")?;
            }
            cpu += 1;
        }
        Ok(())
    }
}

impl fmt::Debug for CpuMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuMask({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpulist_format() {
        let mut m = CpuMask::first_n(3);
        m.set(5);
        m.set(7);
        m.set(8);
        assert_eq!(m.to_string(), "0-2,5,7-8");
        assert_eq!(CpuMask::empty().to_string(), "");
        assert_eq!(m.first(), Some(0));
        assert_eq!(m.weight(), 6);
        assert_eq!(m.iter().collect::<Vec<_>>(), [0, 1, 2, 5, 7, 8]);
    }

    #[test]
    fn masks_past_64_cpus() {
        let m = CpuMask::first_n(130);
        assert_eq!(m.to_string(), "0-129");
        assert_eq!(m.weight(), 130);
        let mut m = CpuMask::first_n(CPUS_MAX);
        assert_eq!(m.to_string(), format!("0-{}", CPUS_MAX - 1));
        m.clear(0);
        m.clear(64);
        m.clear(255);
        assert_eq!(m.to_string(), "1-63,65-254");
        assert_eq!(m.first(), Some(1));
        assert!(CpuMask::of(200).is_subset_of(m));
        assert!(!CpuMask::of(64).is_subset_of(m));
        assert_eq!((CpuMask::of(200) & m).iter().collect::<Vec<_>>(), [200]);
    }
}
