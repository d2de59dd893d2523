//! `kernel/locking`: the lock validator ([`lockdep`]).
pub mod lockdep;
