pub mod notify;
pub mod rules;
