//! The simple-signing payload.
pub struct Payload {}
