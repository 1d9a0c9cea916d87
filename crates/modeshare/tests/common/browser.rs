//! Debian's Chromium driven through WebDriver (its `chromedriver`, installed by
//! `scripts/tools.sh`): a session on a page, scripts run in it (waiting for promises too), window
//! sizes, screenshots.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::{TempDir, free_port, http, poll_until, tool};

pub struct Browser {
    driver: Child,
    address: String,
    session: String,
    _profile: TempDir,
}

impl Browser {
    /// A headless Chromium of `width` × `height` pixels, with a fresh profile and none of its
    /// background connections (this machine's network is closed).
    pub fn start(width: u32, height: u32) -> Browser {
        let address = format!("127.0.0.1:{}", free_port());
        let port = address.rsplit(':').next().unwrap().to_owned();
        let driver = Command::new(tool("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(&address, "GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = TempDir::new("chromium");
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": tool("chromium"),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let (status, body) = http(&address, "POST", "/session", Some(&capabilities)).unwrap();
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status, 200, "new session: {answer}");
        let session = answer["value"]["sessionId"].as_str().unwrap().to_owned();
        Browser {
            driver,
            address,
            session,
            _profile: profile,
        }
    }

    fn command(&self, method: &str, what: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}/{what}", self.session);
        let (status, text) = http(&self.address, method, &path, body).unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(status, 200, "{method} {what}: {answer}");
        answer["value"].clone()
    }

    pub fn navigate(&self, url: &str) {
        self.command("POST", "url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub fn execute(&self, script: &str) -> Value {
        self.command(
            "POST",
            "execute/sync",
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Runs `script` (a function body whose last argument is a callback) in the page and
    /// returns what it passes the callback: for promises, such as reading a download link.
    pub fn execute_async(&self, script: &str) -> Value {
        self.command(
            "POST",
            "execute/async",
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Resizes the window to `width` × `height` CSS pixels (in headless Chromium, the viewport).
    pub fn resize(&self, width: u32, height: u32) {
        self.command(
            "POST",
            "window/rect",
            Some(&json!({ "width": width, "height": height })),
        );
    }

    /// Polls `script` until `ready` accepts its value, failing after the deadline.
    pub fn wait_for<T>(
        &self,
        what: &str,
        seconds: u64,
        script: &str,
        mut ready: impl FnMut(&Value) -> Option<T>,
    ) -> T {
        poll_until(what, seconds, || ready(&self.execute(script)))
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command("GET", "screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = http(&self.address, "DELETE", &path, None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
