//! What this binary is: its version and the git revision it was built from (see `build.rs`),
//! for `modeshare --version` and the `modeshare_build_info` metric.

/// The package version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The short git revision, `MODESHARE_REVISION` of the build, or `unknown`.
pub const REVISION: &str = env!("MODESHARE_BUILD_REVISION");

/// What `modeshare --version` prints after the name.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("MODESHARE_BUILD_REVISION"),
    ")"
);
