//! `modeshare providers check`: the latest complete hour of each configured provider, fetched
//! and judged as the service would, printed, and nothing stored or delivered.

use std::collections::BTreeMap;

use modeshare_core::decode::{Format, FormatDecoder};
use modeshare_core::vocabulary::EventTimeMs;
use modeshare_http::auth::TokenHashes;
use modeshare_http::ingest::{Operator, judge_pulled_page};

use super::{HOUR_MS, Hour, ProviderClient};
use crate::cli::ProvidersCheckArgs;
use crate::clock::wall_clock;
use crate::config::ProviderSettings;
use crate::failure::Failure;

pub fn check(args: &ProvidersCheckArgs) -> Result<(), Failure> {
    let config = args.common.load_config()?;
    let providers: Vec<&ProviderSettings> = config
        .providers
        .iter()
        .filter(|p| args.provider.as_ref().is_none_or(|name| *name == p.name))
        .collect();
    if providers.is_empty() {
        return Err(Failure::Usage(anyhow::anyhow!(
            "no [[providers]] {}in the configuration",
            args.provider
                .as_ref()
                .map_or(String::new(), |n| format!("named {n:?} "))
        )));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Internal(e.into()))?;
    let mut failed = 0;
    for settings in providers {
        let delay = i64::try_from(settings.delay.as_millis()).unwrap_or(i64::MAX);
        let hour = EventTimeMs(
            (wall_clock().0.saturating_sub(delay)).div_euclid(HOUR_MS) * HOUR_MS - HOUR_MS,
        );
        let checked = runtime.block_on(async {
            let mut client = ProviderClient::new(settings.clone())?;
            client.fetch_hour(hour).await
        });
        let header = format!(
            "{} ({}, MDS {}), hour {}:",
            settings.name,
            settings.url,
            if settings.version == modeshare_core::decode::MdsVersion::V1 {
                "1.2"
            } else {
                "2.0"
            },
            hour.to_rfc3339()
        );
        match checked {
            Ok(Hour::NotReady) => say(format!(
                "{header} 202, not processed yet (credentials accepted)"
            )),
            Ok(Hour::Pages(pages)) => {
                say(format!("{header} credentials accepted"));
                say(judged_pages(
                    settings,
                    &config.formats,
                    &config.settings.factors,
                    &pages,
                ));
            }
            Err(e) => {
                failed += 1;
                say(format!("{header} FAILED ({}): {e}", e.kind()));
            }
        }
    }
    if failed > 0 {
        return Err(Failure::Input(anyhow::anyhow!(
            "{failed} provider(s) could not be fetched"
        )));
    }
    Ok(())
}

/// A line on stdout (a closed pipe is not an error worth failing the check for).
fn say(text: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// The pages' trips as the service would judge them, as lines to print.
fn judged_pages(
    settings: &ProviderSettings,
    formats: &modeshare_core::decode::FormatSettings,
    factors: &modeshare_core::vocabulary::PersonTripFactors,
    pages: &[Vec<u8>],
) -> String {
    let decoder = FormatDecoder::new(&Format::Mds(settings.version), formats, factors);
    let operator = Operator {
        name: settings.name.clone(),
        sources: vec![settings.source.clone()],
        tokens: TokenHashes::default(),
    };
    let (mut accepted, mut duplicates) = (0, 0);
    let mut reasons: BTreeMap<&str, (u64, String)> = BTreeMap::new();
    for page in pages {
        let judged = judge_pulled_page(&decoder, &operator, &settings.source, page);
        accepted += judged.events.len() as u64 - judged.duplicates;
        duplicates += judged.duplicates;
        for r in &judged.rejected {
            let entry = reasons
                .entry(r.reason.as_str())
                .or_insert((0, r.message.clone()));
            entry.0 += 1;
        }
    }
    let rejected: u64 = reasons.values().map(|(n, _)| n).sum();
    let mut lines = vec![format!(
        "  {} page(s): {accepted} trips accepted as source {:?}, {rejected} rejected, {duplicates} duplicate(s)",
        pages.len(),
        settings.source
    )];
    for (reason, (n, example)) in reasons {
        lines.push(format!("  {n:>6} {reason}: e.g. {example}"));
    }
    lines.join("\n")
}
