//! Architecture code the hotplug model needs. Only x86 is modelled.
pub mod x86;
