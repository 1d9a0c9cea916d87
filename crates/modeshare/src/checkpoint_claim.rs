//! A partition's checkpoint as the store holds it: the claim of the instance that owns the
//! partition — a generation, one more at every assignment, and the owner's name — before the
//! checkpoint's bytes. When the group assigns a partition, its new owner writes its claim at
//! once (conditional on the version it read), so the version changes even when the state does
//! not: an instance that lost the partition during a long pause finds another version when it
//! writes, and its stale state is refused.
//!
//! Layout: `MSCLAIM1`, the generation (u64, little-endian), the owner's length (u16) and name
//! (UTF-8), then the checkpoint (empty: claimed, nothing saved yet). Bytes without the magic are
//! a checkpoint written before claims: generation 0, no owner.

/// The magic that starts a claimed checkpoint.
const MAGIC: &[u8; 8] = b"MSCLAIM1";

/// A claim and the checkpoint after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed<'a> {
    pub generation: u64,
    pub owner: &'a str,
    pub checkpoint: &'a [u8],
}

/// The claim's header cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is damaged: its owner's claim cannot be read")]
pub struct DamagedClaim;

/// `checkpoint` under the claim of `owner` at `generation`.
pub fn encode(generation: u64, owner: &str, checkpoint: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(MAGIC.len() + 10 + owner.len() + checkpoint.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&generation.to_le_bytes());
    put_text(&mut bytes, owner);
    bytes.extend_from_slice(checkpoint);
    bytes
}

/// The claim and checkpoint of stored bytes.
pub fn decode(bytes: &[u8]) -> Result<Claimed<'_>, DamagedClaim> {
    let Some(mut rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Ok(Claimed {
            generation: 0,
            owner: "",
            checkpoint: bytes,
        });
    };
    let generation = u64::from_le_bytes(take(&mut rest).ok_or(DamagedClaim)?);
    let owner = take_text(&mut rest).ok_or(DamagedClaim)?;
    Ok(Claimed {
        generation,
        owner,
        checkpoint: rest,
    })
}

/// Appends a text as the headers here store it: its length (u16, little-endian) and its UTF-8
/// bytes, cut at a character boundary to fit.
pub(crate) fn put_text(bytes: &mut Vec<u8>, text: &str) {
    let text = &text[..text.floor_char_boundary(usize::from(u16::MAX))];
    bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
}

/// Takes a text [`put_text`] wrote off the front of `rest`; `None` when cut short or not UTF-8.
pub(crate) fn take_text<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    let length = usize::from(u16::from_le_bytes(take(rest)?));
    let text = std::str::from_utf8(rest.get(..length)?).ok()?;
    *rest = &rest[length..];
    Some(text)
}

/// Takes `N` bytes off the front of `rest`.
pub(crate) fn take<const N: usize>(rest: &mut &[u8]) -> Option<[u8; N]> {
    let (head, tail) = rest.split_first_chunk::<N>()?;
    *rest = tail;
    Some(*head)
}

/// This instance's name in its claims: the host (a pod's name on Kubernetes) and process.
pub fn this_instance() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{host}/{}", std::process::id())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_claim_reads_back_and_older_checkpoints_read_as_generation_0() {
        let bytes = encode(7, "modeshare-worker-2/1", b"state");
        assert_eq!(
            decode(&bytes).unwrap(),
            Claimed {
                generation: 7,
                owner: "modeshare-worker-2/1",
                checkpoint: b"state"
            }
        );
        let empty = encode(1, "a", b"");
        assert_eq!(decode(&empty).unwrap().checkpoint, b"");
        let older = b"MSCKPT older checkpoint";
        assert_eq!(decode(older).unwrap().generation, 0);
        assert_eq!(decode(older).unwrap().checkpoint, older);
    }

    #[test]
    fn a_cut_claim_is_damaged_never_a_panic() {
        let bytes = encode(7, "owner", b"state");
        for end in MAGIC.len()..MAGIC.len() + 10 + "owner".len() {
            assert_eq!(decode(&bytes[..end]), Err(DamagedClaim), "cut at {end}");
        }
        let mut not_utf8 = encode(1, "ab", b"");
        let at = MAGIC.len() + 10;
        not_utf8[at] = 0xff;
        assert_eq!(decode(&not_utf8), Err(DamagedClaim));
    }
}
