//! Helpers of the in-process tests only (the shared ones are in
//! tests/common).

use std::process::Command;

/// Set in the child that [`in_own_process`] starts.
const OWN_PROCESS: &str = "TTN_EXPORTER_TEST_OWN_PROCESS";

/// For a test that measures something of the whole process (RSS, a
/// process-wide counter, the global log subscriber): the other tests of this
/// binary run in the same process at the same time and would disturb it.
///
/// Called first thing in the test with the test's path in this binary
/// (`module::test_name`). In the normal run it starts this test binary again
/// with only that test, waits, asserts that exactly that one test ran and
/// passed, and returns `false` (the caller returns). In that child it returns
/// `true` and the caller runs its body, alone in its process.
pub fn in_own_process(test: &str) -> bool {
    if std::env::var_os(OWN_PROCESS).is_some_and(|t| t == test) {
        return true;
    }
    let exe = std::env::current_exe().expect("path of this test binary");
    let out = Command::new(exe)
        .args([test, "--exact", "--include-ignored", "--test-threads=1"])
        .env(OWN_PROCESS, test)
        .output()
        .expect("run this test binary again");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} in its own process: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    false
}

/// Fixture body from tests/fixtures/tts (copies of recorded API bodies).
pub fn fixture(name: &str) -> serde_json::Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tts")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

/// GET `url`: the body, whatever the status.
pub async fn get_text(url: String) -> String {
    crate::common::client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
