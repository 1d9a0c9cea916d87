//! `modeshare produce`: the operators' validate-and-send. Every line is checked with the same
//! decoder the service uses; only valid events are sent, keyed by their `source`, through an
//! idempotent producer that waits for every in-sync replica, with the configuration's
//! `[kafka.options]` (TLS, SASL; secrets read from files or the environment as the service
//! reads them).

use modeshare_core::decode::{CanonicalDecoder, DecodeError};
use modeshare_kafka::EventProducer;
use modeshare_kafka::config::KafkaOptions;
use modeshare_source::{Line, LineReader};

use crate::cli::{ProduceArgs, open_inputs};
use crate::clock::wall_clock;
use crate::failure::Failure;
use crate::rejections::RejectionLog;

pub fn run(args: &ProduceArgs) -> Result<(), Failure> {
    let config = args.common.load_config()?;
    if args.format != "canonical" {
        return Err(Failure::Usage(anyhow::anyhow!(
            "produce sends canonical events only; check a {:?} file with `modeshare replay --format {}` \
             and send it to a topic declared with that format",
            args.format,
            args.format
        )));
    }
    let options = config
        .kafka
        .as_ref()
        .map(|k| k.options.clone())
        .unwrap_or_default();
    let brokers = match (&args.brokers, &config.kafka) {
        (Some(brokers), _) => brokers.clone(),
        (None, Some(kafka)) => kafka.brokers.clone(),
        (None, None) => {
            return Err(Failure::Usage(anyhow::anyhow!(
                "no brokers: pass --brokers host:port, or a --config with [kafka] brokers"
            )));
        }
    };
    let inputs = open_inputs(&args.files)?;
    let decoder = CanonicalDecoder::new(config.settings.factors.clone());
    let max_line = config.input.max_line_bytes;
    let mut log = RejectionLog::default();
    let mut valid: Vec<(Option<Vec<u8>>, Vec<u8>)> = Vec::new();
    let mut read = 0u64;
    for input in inputs {
        let mut lines = LineReader::new(input.reader, max_line);
        while let Some(line) = lines
            .next_line()
            .map_err(|e| Failure::Input(anyhow::anyhow!("reading {}: {e}", input.name)))?
        {
            read += 1;
            let rejection = match line {
                Line::Text(bytes) => match decoder.decode(bytes, Some(wall_clock())) {
                    Ok(obs) => {
                        valid.push((Some(obs.source.as_bytes().to_vec()), bytes.to_vec()));
                        None
                    }
                    Err(e) => Some(e.into_owned()),
                },
                Line::TooLong { len } => Some(DecodeError::line_too_long(len, max_line)),
            };
            if let Some(e) = rejection {
                log.record(&input.name, lines.line_no(), &e);
            }
        }
    }
    let rejected = log.total();
    eprintln!(
        "validated {read} events: {} valid, {rejected} rejected",
        valid.len()
    );
    eprint!("{}", log.render());
    if rejected > 0 && !args.allow_rejects {
        return Err(Failure::Rejected(anyhow::anyhow!(
            "nothing was sent: fix the rejected events, or pass --allow-rejects to send the {} valid ones",
            valid.len()
        )));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Internal(e.into()))?;
    let producer = EventProducer::connect(&brokers, &options)
        .map_err(|e| Failure::Usage(anyhow::anyhow!("kafka: {}", scrubbed(&options, &e))))?;
    let (sent, failure) = runtime.block_on(producer.send_all(&args.topic, &valid));
    eprintln!(
        "sent {sent} of {} valid events to {} on {brokers}",
        valid.len(),
        args.topic,
    );
    if let Some(e) = failure {
        return Err(Failure::Input(anyhow::anyhow!(
            "delivery failed after {sent} events: {}",
            scrubbed(&options, &e)
        )));
    }
    if rejected > 0 {
        return Err(Failure::Rejected(anyhow::anyhow!(
            "{rejected} events were rejected and not sent"
        )));
    }
    Ok(())
}

/// A librdkafka error's text without any secret value of `options` in it.
fn scrubbed(options: &KafkaOptions, error: &impl std::fmt::Display) -> String {
    options.scrub(&error.to_string())
}
