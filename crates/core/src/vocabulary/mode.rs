//! The canonical mode taxonomy and the configurable groups that shares and goals are about.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::config_error::ConfigErrors;

/// A canonical travel mode. The names are part of the public event contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Mode {
    Walk,
    /// Includes e-bikes and bike share.
    Bicycle,
    EScooter,
    Moped,
    Bus,
    Tram,
    Metro,
    Rail,
    Ferry,
    CarDriver,
    CarPassenger,
    Taxi,
    Other,
}

impl Mode {
    pub const COUNT: usize = 13;

    pub const ALL: [Mode; Mode::COUNT] = [
        Mode::Walk,
        Mode::Bicycle,
        Mode::EScooter,
        Mode::Moped,
        Mode::Bus,
        Mode::Tram,
        Mode::Metro,
        Mode::Rail,
        Mode::Ferry,
        Mode::CarDriver,
        Mode::CarPassenger,
        Mode::Taxi,
        Mode::Other,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Walk => "walk",
            Mode::Bicycle => "bicycle",
            Mode::EScooter => "e_scooter",
            Mode::Moped => "moped",
            Mode::Bus => "bus",
            Mode::Tram => "tram",
            Mode::Metro => "metro",
            Mode::Rail => "rail",
            Mode::Ferry => "ferry",
            Mode::CarDriver => "car_driver",
            Mode::CarPassenger => "car_passenger",
            Mode::Taxi => "taxi",
            Mode::Other => "other",
        }
    }

    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == name)
    }

    pub const fn index(self) -> usize {
        self as usize
    }

    /// The canonical names, comma-separated, for error messages.
    pub fn names() -> String {
        Mode::ALL.map(Mode::as_str).join(", ")
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of modes as a bitmask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ModeSet(u16);

impl ModeSet {
    pub fn insert(&mut self, mode: Mode) {
        self.0 |= 1 << mode.index();
    }

    pub fn contains(self, mode: Mode) -> bool {
        self.0 & (1 << mode.index()) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: ModeSet) -> ModeSet {
        ModeSet(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Mode> {
        Mode::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

impl FromIterator<Mode> for ModeSet {
    fn from_iter<I: IntoIterator<Item = Mode>>(iter: I) -> Self {
        let mut set = ModeSet::default();
        for m in iter {
            set.insert(m);
        }
        set
    }
}

/// `[groups]`: named sets of modes whose shares are published and can carry goals.
/// A member is a canonical mode or the name of another group.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct GroupsConfig(pub BTreeMap<String, Vec<String>>);

/// A validated group: its name and the modes it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeGroup {
    pub name: String,
    pub modes: ModeSet,
}

/// The validated groups, in name order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModeGroups(Vec<ModeGroup>);

impl ModeGroups {
    pub fn iter(&self) -> impl Iterator<Item = &ModeGroup> {
        self.0.iter()
    }

    pub fn get(&self, name: &str) -> Option<&ModeGroup> {
        self.0.iter().find(|g| g.name == name)
    }
}

impl GroupsConfig {
    /// Resolves nested group references; reports unknown members, cycles and bad names.
    pub fn validate(&self, errors: &mut ConfigErrors) -> ModeGroups {
        let mut resolved = Vec::new();
        for name in self.0.keys() {
            if Mode::from_name(name).is_some() {
                errors.push(
                    format!("groups.{name}"),
                    "a group may not be named like a mode; pick another name",
                );
                continue;
            }
            if !is_label_safe(name) {
                errors.push(
                    format!("groups.{name}"),
                    "group names are metric labels: use lowercase letters, digits and `_`",
                );
                continue;
            }
            let mut path = vec![name.as_str()];
            match self.resolve(name, &mut path) {
                Ok(modes) => resolved.push(ModeGroup {
                    name: name.clone(),
                    modes,
                }),
                Err(message) => errors.push(format!("groups.{name}"), message),
            }
        }
        ModeGroups(resolved)
    }

    fn resolve<'a>(&'a self, name: &str, path: &mut Vec<&'a str>) -> Result<ModeSet, String> {
        let mut set = ModeSet::default();
        let members = self.0.get(name).map(Vec::as_slice).unwrap_or_default();
        for member in members {
            if let Some(mode) = Mode::from_name(member) {
                set.insert(mode);
            } else if self.0.contains_key(member) {
                if path.contains(&member.as_str()) {
                    path.push(member);
                    return Err(format!(
                        "groups refer to each other in a cycle: {}",
                        path.join(" → ")
                    ));
                }
                path.push(member);
                set = set.union(self.resolve(member, path)?);
                path.pop();
            } else {
                return Err(format!(
                    "{member:?} is neither a canonical mode ({}) nor a group",
                    Mode::names()
                ));
            }
        }
        Ok(set)
    }
}

/// Whether a configured name can be used as a Prometheus label value and JSON key as-is.
pub(crate) fn is_label_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests;
