//! What every consumer group member of the service (the source, the providers' lease) does in
//! its rebalance callback, under either protocol: eager members take and give up their whole
//! assignment, cooperative ones only the partitions offered.

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaResult;

fn cooperative<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> bool {
    matches!(
        consumer.rebalance_protocol(),
        RebalanceProtocol::Cooperative
    )
}

/// Takes the partitions of `assignment` (with their start offsets).
pub(crate) fn take<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    assignment: &TopicPartitionList,
) -> KafkaResult<()> {
    if cooperative(consumer) {
        consumer.incremental_assign(assignment)
    } else {
        consumer.assign(assignment)
    }
}

/// Gives the `revoked` partitions up.
pub(crate) fn give_up<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    revoked: &TopicPartitionList,
) -> KafkaResult<()> {
    if cooperative(consumer) {
        consumer.incremental_unassign(revoked)
    } else {
        consumer.unassign()
    }
}
