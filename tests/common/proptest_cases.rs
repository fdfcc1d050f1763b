//! The case budget of a property test: `CONCORD_PROPTEST_CASES` when set (the mutation
//! script and long runs set it), else the test file's own default.

pub fn cases(default: u32) -> u32 {
    std::env::var("CONCORD_PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}
