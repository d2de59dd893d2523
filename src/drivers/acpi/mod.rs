//! `drivers/acpi`: CPU hot-add and hot-remove as x86 6.1 does it through
//! ACPI. [`scan`] is `drivers/acpi/scan.c` (the hotplug event, the eject
//! and its offline passes), [`processor`] is `drivers/acpi/acpi_processor.c`
//! (the processor scan handler's attach and detach).
//!
//! The firmware is data: each processor of the MADT has an ACPI processor
//! object, present (`_STA`) or not (`crate::arch::x86::apic::X86State`'s
//! `slot_present`). The case operations stand for what QEMU's `device_add`
//! and `device_del` do: the firmware marks the processor present and sends
//! `ACPI_NOTIFY_DEVICE_CHECK`, or sends `ACPI_NOTIFY_EJECT_REQUEST` and
//! removes the processor once the kernel runs `_EJ0`. What QEMU itself
//! refuses never reaches the kernel: adding a processor it has (`-EEXIST`),
//! removing one it has not (`-ENODEV`), removing the boot CPU (`-EPERM`,
//! "Boot CPU is unpluggable"). Left out: the ACPI namespace walk (a
//! processor object has no children here), `_OST` codes beyond the error
//! they come from, `_LCK`/`_EJD`, container devices, `acpi_bind_one`'s
//! physical-node bookkeeping beyond the `cpuN` device, the processor
//! driver's probe and remove (`drivers/acpi/processor_driver.c`: idle and
//! throttling states), and NUMA nodes (`try_offline_node`).

pub mod processor;
pub mod scan;

/// The ACPI processor devices.
#[derive(Clone, Debug)]
pub struct AcpiState {
    /// Per processor object (MADT position): the processor scan handler is
    /// attached (`adev->handler`), with `pr->id`, the logical CPU its
    /// physical node `cpuN` is. The boot scan attached every present one.
    pub pr: Vec<Option<usize>>,
}

impl AcpiState {
    /// The boot scan: every present CPU's processor object has its
    /// handler (`acpi_processor_add` found its logical CPU). With `nosmp`
    /// only CPU 0 is present, and the others' attach failed.
    pub fn new(cpus: usize, present: crate::sim::CpuMask) -> AcpiState {
        AcpiState { pr: (0..cpus).map(|i| present.test(i).then_some(i)).collect() }
    }
}
