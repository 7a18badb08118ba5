//! Alarm rules, alarms and notification channels (DEVICES.md "Alarm rules and notification").
