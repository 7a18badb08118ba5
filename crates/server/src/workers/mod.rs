//! Background workers of a node. Each exposes its one pass as a function, so tests drive it
//! without sleeping; `Server::serve` runs them in loops.

pub mod alarms;
pub mod devices;
pub mod uplink;
