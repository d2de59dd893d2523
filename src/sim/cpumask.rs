//! A fixed-size CPU mask, printed as a kernel cpulist (`0-2,5`).
//!
//! Models `struct cpumask` for up to [`CPUS_MAX`] CPUs. Left out: variable
//! `NR_CPUS` and off-stack masks.

use std::fmt;

/// The largest machine the model builds.
pub const CPUS_MAX: usize = 64;

#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CpuMask(u64);

impl CpuMask {
    pub const fn empty() -> Self {
        CpuMask(0)
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
        if n == CPUS_MAX { CpuMask(u64::MAX) } else { CpuMask((1u64 << n) - 1) }
    }

    pub fn test(self, cpu: usize) -> bool {
        cpu < CPUS_MAX && self.0 & (1 << cpu) != 0
    }

    pub fn set(&mut self, cpu: usize) {
        self.0 |= 1 << cpu;
    }

    pub fn clear(&mut self, cpu: usize) {
        self.0 &= !(1 << cpu);
    }

    pub fn assign(&mut self, cpu: usize, on: bool) {
        if on { self.set(cpu) } else { self.clear(cpu) }
    }

    pub fn weight(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `cpumask_first`: the lowest CPU in the mask.
    pub fn first(self) -> Option<usize> {
        (self.0 != 0).then(|| self.0.trailing_zeros() as usize)
    }

    pub fn is_subset_of(self, other: CpuMask) -> bool {
        self.0 & !other.0 == 0
    }

    /// The CPUs in ascending order, as `for_each_cpu` visits them.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..CPUS_MAX).filter(move |&c| self.test(c))
    }
}

impl std::ops::BitAnd for CpuMask {
    type Output = CpuMask;

    /// `cpumask_and()`.
    fn bitand(self, other: CpuMask) -> CpuMask {
        CpuMask(self.0 & other.0)
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
    }
}
