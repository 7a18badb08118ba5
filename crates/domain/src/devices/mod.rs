//! Devices (DEVICES.md, seed 004 §4.2.4–4.2.5, §8.1): the thing model a device type declares and the
//! values it checks (`model`), the up messages devices send and their topics (`up`), alarm rules and
//! their evaluation (`rules`), and the notification policy (`notify`). Pure: the registry, the broker,
//! the senders and the clock live in the server.

pub mod model;
pub mod notify;
pub mod rules;
pub mod up;
