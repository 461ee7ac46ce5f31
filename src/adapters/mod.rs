//! Real implementations of the ports: AWS SDK clients and the Code42 HTTP API.

pub mod aws;
pub mod code42;
pub mod sqs;
