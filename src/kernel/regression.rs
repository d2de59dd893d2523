//! The regression switches: historical kernel bugs the model can switch back
//! on, by stable name, each with the kernels it affected and the commit that
//! fixed it.
//!
//! Not a kernel file: the kernel has no such table. A switch is consulted
//! only where the historical change was, each place marked with the
//! switch's name (CONTRIBUTING.md, "Add a regression switch"). Left out:
//! every other historical bug.

use super::Config;

/// A historical bug the engine can switch back on, by its stable name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Regression {
    /// 4.10–4.12: `cpuhp_store_callbacks` reserves a new dynamic slot on
    /// removal too, so the base slot keeps its callbacks. Fixed by
    /// 0c96b27305fa "smp/hotplug: Handle removal correctly in
    /// cpuhp_store_callbacks()".
    CpuhpDynRemoveMisfire,
    /// Up to 5.0.5 with `HOTPLUG_CPU=n`: a bringup failure after the AP passed
    /// `CPUHP_BRINGUP_CPU` is rolled back on the control CPU, running the
    /// AP's DYING and the DEAD teardowns while the AP is alive. Fixed by
    /// 206b92353c83 "cpu/hotplug: Prevent crash when CPU bringup fails on
    /// CONFIG_HOTPLUG_CPU=n" (`can_rollback_cpu`).
    CpuhpRollbackWithoutHotplugCpu,
    /// 2.6 before 2.6.5-rc3: `kmem_cache_create`/`kmem_cache_destroy` ran
    /// without the CPU hotplug lock, racing CPU_UP_PREPARE and CPU_DEAD.
    /// Fixed in the 2.6 history tree by 52930067 (lock_cpu_hotplug around
    /// both).
    SlabCreateDestroyUnlocked,
    /// Before 3.16: the outgoing CPU did not flush its `call_single_queue`
    /// at CPU_DYING, so a call queued after it disabled IRQs inside
    /// stop_machine was stranded, or ran late on the offline CPU. Fixed by
    /// 8d056c48e486 "CPU hotplug, smp: flush any pending IPI callbacks
    /// before CPU offline".
    SmpNoFlushOnDying,
    /// 4.1 to 4.19: 30467e0b3be8 moved `mem_hotplug_begin()` out of
    /// `online_pages`/`offline_pages` into the `state` store only, so the
    /// `online` attribute and auto-online on hot-add reached them without
    /// `mem_hotplug_lock`, and `add_memory` ran without
    /// `device_hotplug_lock`. Fixed by 381eab4a6ee8 (with d15e59260f62 and
    /// 8df1d0e4a265).
    MemhpOnlinePagesUnlocked,
    /// Before 30467e0b3be8 (4.0): hot-add took `mem_hotplug_lock` then
    /// `device_lock` (registering the block), onlining took `device_lock`
    /// then `mem_hotplug_lock` (inside `online_pages`), with no common outer
    /// lock: an ABBA.
    MemhpAddOnlineAbba,
    /// Synthetic, not historical: `rcutree_prepare_cpu` does not re-enable
    /// a callback list `rcutree_migrate_callbacks` disabled, so a CPU comes
    /// back online with its RCU callbacks off. Shows the `rcu` check
    /// "online with its RCU callback list disabled" fire.
    SyntheticRcuPrepareNoReenable,
    /// Synthetic, not historical: `rcu_report_dead` does nothing, so RCU
    /// goes on counting a dead CPU. Shows the `rcu` check on RCU's view of
    /// the CPUs, and the RCU stall it leads to, fire.
    SyntheticRcuReportDeadSkipped,
    /// Synthetic, not historical: `rcutree_migrate_callbacks` drops the dead
    /// CPU's callbacks instead of moving them. Shows the `rcu` check "no
    /// callback is lost" fire.
    SyntheticRcuMigrateDropsCallbacks,
    /// Synthetic, not historical: `device_offline` marks the CPU device
    /// offline even when `cpu_down` failed. Shows the `restore` check fire.
    SyntheticDeviceOfflineOnFailure,
    /// Synthetic, not historical: `stop_machine_park` drops the works queued
    /// on the dying CPU's stopper instead of letting it run them. Shows the
    /// `stop` check "no work is dropped" fire.
    SyntheticStopperParkDropsWorks,
    /// Synthetic, not historical: `sched_cpu_activate` does not put the
    /// runqueue online. Shows the `sched` check on runqueues fire.
    SyntheticSchedActivateNoRqOnline,
    /// Synthetic, not historical: `sched_cpu_deactivate`'s error path does
    /// not give back the `sched_smt_present` count it took. Shows the
    /// `sched` check on SMT fire.
    SyntheticSchedDeactivateUnwindSmt,
    /// Synthetic, not historical: `smpboot_park_threads` leaves `ksoftirqd`
    /// running. Shows the `smpboot` check fire.
    SyntheticSmpbootParkSkipped,
    /// Synthetic, not historical: `smpcfd_prepare_cpu`'s error path frees
    /// nothing it allocated. Shows the `leaks` check on `cfd_data` fire.
    SyntheticSmpcfdUnwindLeaks,
    /// Synthetic, not historical: `remove_siblinginfo` does nothing, so an
    /// offline CPU stays in its siblings' `cpu_smt_mask`. Shows the
    /// `topology` check fire.
    SyntheticSiblingMapKept,
    /// Synthetic, not historical: `acpi_processor_remove` skips
    /// `arch_unregister_cpu`, so a hot-removed CPU keeps its `cpuN` device.
    /// Shows the `cpu-devices` check fire.
    SyntheticHotRemoveKeepsDevice,
    /// Synthetic, not historical: `offline_pages` does not call `adjust_managed_page_count`, so the zone keeps managing the pages it no longer has. Shows the `mm` check "managed ≤ present ≤ spanned" fire.
    SyntheticOfflineKeepsManaged,
    /// Synthetic, not historical: `page_alloc_cpu_dead` does not drain the dead CPU's pcplists. Shows the `mm` check "no pages on an offline CPU's pcplist" fire.
    SyntheticPcpDeadNoDrain,
    /// Synthetic, not historical: `start_isolate_page_range` does not unset the first pageblock when the last one cannot be isolated. Shows the `mm` check "no isolated pageblock at rest" and the `restore` check on `nr_isolate_pageblock` fire.
    SyntheticIsolateUndoSkipped,
    /// Synthetic, not historical: a failed `offline_pages` does not call `lru_cache_enable`. Shows the `mm` check on `lru_disable_count` and the `restore` check fire.
    SyntheticLruEnableSkipped,
    /// Synthetic, not historical: `zone_pcp_enable` releases `pcp_batch_high_lock` without restoring the zone's pcp high and batch. Shows the `mm` check "every pageset enabled at rest" fire.
    SyntheticPcpEnableSkipped,
    /// Synthetic, not historical: `unset_migratetype_isolate` moves the free pages back without counting them in `NR_FREE_PAGES`. Shows the `mm` check on `NR_FREE_PAGES` and the `restore` check on free pages fire.
    SyntheticUnisolateNoFreepageCount,
}

impl Regression {
    pub const ALL: &'static [Regression] = &[
        Regression::CpuhpDynRemoveMisfire,
        Regression::CpuhpRollbackWithoutHotplugCpu,
        Regression::SlabCreateDestroyUnlocked,
        Regression::SmpNoFlushOnDying,
        Regression::MemhpOnlinePagesUnlocked,
        Regression::MemhpAddOnlineAbba,
        Regression::SyntheticRcuPrepareNoReenable,
        Regression::SyntheticRcuReportDeadSkipped,
        Regression::SyntheticRcuMigrateDropsCallbacks,
        Regression::SyntheticDeviceOfflineOnFailure,
        Regression::SyntheticStopperParkDropsWorks,
        Regression::SyntheticSchedActivateNoRqOnline,
        Regression::SyntheticSchedDeactivateUnwindSmt,
        Regression::SyntheticSmpbootParkSkipped,
        Regression::SyntheticSmpcfdUnwindLeaks,
        Regression::SyntheticSiblingMapKept,
        Regression::SyntheticHotRemoveKeepsDevice,
        Regression::SyntheticOfflineKeepsManaged,
        Regression::SyntheticPcpDeadNoDrain,
        Regression::SyntheticIsolateUndoSkipped,
        Regression::SyntheticLruEnableSkipped,
        Regression::SyntheticPcpEnableSkipped,
        Regression::SyntheticUnisolateNoFreepageCount,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Regression::CpuhpDynRemoveMisfire => "cpuhp-dyn-remove-misfire",
            Regression::CpuhpRollbackWithoutHotplugCpu => "cpuhp-rollback-without-hotplug-cpu",
            Regression::SlabCreateDestroyUnlocked => "slab-create-destroy-unlocked",
            Regression::SmpNoFlushOnDying => "smp-no-flush-on-dying",
            Regression::MemhpOnlinePagesUnlocked => "memhp-online-pages-unlocked",
            Regression::MemhpAddOnlineAbba => "memhp-add-online-abba",
            Regression::SyntheticRcuPrepareNoReenable => "synthetic-rcu-prepare-no-reenable",
            Regression::SyntheticRcuReportDeadSkipped => "synthetic-rcu-report-dead-skipped",
            Regression::SyntheticRcuMigrateDropsCallbacks => "synthetic-rcu-migrate-drops-callbacks",
            Regression::SyntheticDeviceOfflineOnFailure => "synthetic-device-offline-on-failure",
            Regression::SyntheticStopperParkDropsWorks => "synthetic-stopper-park-drops-works",
            Regression::SyntheticSchedActivateNoRqOnline => "synthetic-sched-activate-no-rq-online",
            Regression::SyntheticSchedDeactivateUnwindSmt => "synthetic-sched-deactivate-unwind-smt",
            Regression::SyntheticSmpbootParkSkipped => "synthetic-smpboot-park-skipped",
            Regression::SyntheticSmpcfdUnwindLeaks => "synthetic-smpcfd-unwind-leaks",
            Regression::SyntheticSiblingMapKept => "synthetic-sibling-map-kept",
            Regression::SyntheticHotRemoveKeepsDevice => "synthetic-hot-remove-keeps-device",
            Regression::SyntheticOfflineKeepsManaged => "synthetic-offline-keeps-managed",
            Regression::SyntheticPcpDeadNoDrain => "synthetic-pcp-dead-no-drain",
            Regression::SyntheticIsolateUndoSkipped => "synthetic-isolate-undo-skipped",
            Regression::SyntheticLruEnableSkipped => "synthetic-lru-enable-skipped",
            Regression::SyntheticPcpEnableSkipped => "synthetic-pcp-enable-skipped",
            Regression::SyntheticUnisolateNoFreepageCount => "synthetic-unisolate-no-freepage-count",
        }
    }

    pub fn parse(name: &str) -> Option<Regression> {
        Regression::ALL.iter().copied().find(|r| r.name() == name)
    }

    /// The kernels that had the bug and the commit that fixed it.
    pub fn history(self) -> &'static str {
        match self {
            Regression::CpuhpDynRemoveMisfire => {
                "4.10 to 4.12; fixed by 0c96b27305fa (smp/hotplug: Handle removal correctly in cpuhp_store_callbacks())"
            }
            Regression::CpuhpRollbackWithoutHotplugCpu => {
                "SMP=y, HOTPLUG_CPU=n, up to 5.0.5; fixed by 206b92353c83 (cpu/hotplug: Prevent crash when CPU bringup fails on CONFIG_HOTPLUG_CPU=n)"
            }
            Regression::SlabCreateDestroyUnlocked => {
                "2.6 before 2.6.5-rc3; fixed in the history tree by 52930067 (lock_cpu_hotplug around kmem_cache_create/destroy)"
            }
            Regression::SmpNoFlushOnDying => {
                "before 3.16; fixed by 8d056c48e486 (CPU hotplug, smp: flush any pending IPI callbacks before CPU offline)"
            }
            Regression::MemhpOnlinePagesUnlocked => {
                "4.1 to 4.19; fixed by 381eab4a6ee8 (mm/memory_hotplug: fix online/offline_pages called w.o. mem_hotplug_lock), with d15e59260f62 and 8df1d0e4a265"
            }
            Regression::MemhpAddOnlineAbba => {
                "before 4.1; changed by 30467e0b3be8 (mm, hotplug: fix concurrent memory hot-add deadlock)"
            }
            Regression::SyntheticRcuPrepareNoReenable
            | Regression::SyntheticRcuReportDeadSkipped
            | Regression::SyntheticRcuMigrateDropsCallbacks
            | Regression::SyntheticDeviceOfflineOnFailure
            | Regression::SyntheticStopperParkDropsWorks
            | Regression::SyntheticSchedActivateNoRqOnline
            | Regression::SyntheticSchedDeactivateUnwindSmt
            | Regression::SyntheticSmpbootParkSkipped
            | Regression::SyntheticSmpcfdUnwindLeaks
            | Regression::SyntheticSiblingMapKept
            | Regression::SyntheticHotRemoveKeepsDevice
            | Regression::SyntheticOfflineKeepsManaged
            | Regression::SyntheticPcpDeadNoDrain
            | Regression::SyntheticIsolateUndoSkipped
            | Regression::SyntheticLruEnableSkipped
            | Regression::SyntheticPcpEnableSkipped
            | Regression::SyntheticUnisolateNoFreepageCount => {
                "synthetic: no kernel had it; it breaks what one check guards, to show that check fire"
            }
        }
    }
}

impl Config {
    pub fn has(&self, r: Regression) -> bool {
        self.regressions.contains(&r)
    }
}
