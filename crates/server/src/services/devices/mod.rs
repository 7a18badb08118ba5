//! Devices (issue 18, DEVICES.md): alarm rules, alarms and their notification (`alarms`).

pub mod alarms;
pub mod notify;
