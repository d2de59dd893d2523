//! `kernel/rcu/`: RCU as CPU hotplug sees it. Only `tree.c` is modelled
//! (`tree.rs`), the tree RCU Debian's 6.1 builds (`CONFIG_TREE_RCU`,
//! `CONFIG_PREEMPT_RCU` through `CONFIG_PREEMPT_DYNAMIC`). Left out: the
//! other RCU flavours (tasks RCU, SRCU), `tree_plugin.h`'s blocked-reader
//! lists, `tree_exp.h`'s expedited grace periods and `tree_nocb.h`'s
//! offloaded callbacks.

pub mod tree;
