//! Kafka for modeshare: the consumer-group source, the dead-letter producer, the providers'
//! lease, the service's own topics, and what the service reports about the brokers (lag per
//! partition, connection state).
//!
//! Owns every use of rdkafka, so the slow librdkafka build lives in this crate only. Hands
//! batches of raw records per partition to its caller through a bounded channel, starts each
//! assigned partition where the caller's checkpoint ends, and commits only what the caller
//! says is checkpointed. It depends on the core only for configuration errors; decoding and
//! checkpoints happen in the caller.

pub mod config;
pub mod dead_letter;
mod delivery;
pub mod health;
pub mod lease;
pub mod producer;
mod rebalance;
pub mod source;
pub mod topics;

pub use config::{KafkaConfig, KafkaSettings};
pub use dead_letter::{DeadLetter, DeadLetters, permanent_reason};
pub use health::KafkaHealth;
pub use lease::{ControlRecord, Lease, LeaseError, LeaseEvent, Release};
pub use producer::EventProducer;
pub use rdkafka::error::KafkaError;
pub use source::{
    KafkaSource, KafkaSourceError, PartitionBatch, Record, RefusedPartition, SourceEvent, StartAt,
    StartError, StartPositions,
};
pub use topics::OwnTopic;
