//! A small W3C WebDriver client for the browser tests: Debian's `chromedriver` drives a
//! headless Debian `chromium`. Only the dozen commands the tests use, over `reqwest`
//! (already in the tree) — a WebDriver crate would bring its own HTTP stack and Unicode
//! segmentation tables for this. chromedriver runs in its own process group, ended with
//! its browser when the [`Browser`] is dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn find_program(name: &str) -> Option<String> {
    std::env::var("PATH").ok()?.split(':').find_map(|dir| {
        let p = std::path::Path::new(dir).join(name);
        p.is_file().then(|| p.display().to_string())
    })
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start() -> Browser {
        let chromedriver = find_program("chromedriver").expect(
            "chromedriver is not on PATH: run `make deps` (installs Debian's chromium and chromium-driver)",
        );
        let chromium = find_program("chromium").expect(
            "chromium is not on PATH: run `make deps` (installs Debian's chromium and chromium-driver)",
        );
        let port = free_port();
        let mut cmd = Command::new(chromedriver);
        cmd.arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd.spawn().expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http
                .get(format!("{base}/status"))
                .send()
                .await
                .ok()
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not answer on port {port} in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         "--no-first-run", "--disable-extensions", "--lang=en-US"]
            }
        }}});
        let mut browser = Browser {
            http,
            session: String::new(),
            driver,
        };
        let answer = browser
            .raw("POST", &format!("{base}/session"), Some(caps))
            .await
            .expect("a Chromium session");
        browser.session = format!(
            "{base}/session/{}",
            answer["sessionId"].as_str().expect("a session id")
        );
        browser
    }

    async fn raw(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let res = req.send().await.map_err(|e| e.to_string())?;
        let value: Value = res.json().await.map_err(|e| e.to_string())?;
        let value = value.get("value").cloned().unwrap_or(Value::Null);
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            return Err(format!(
                "{error}: {}",
                value["message"].as_str().unwrap_or_default()
            ));
        }
        Ok(value)
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        self.raw(method, &format!("{}{path}", self.session), body)
            .await
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The elements matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<String> {
        self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .await
        .unwrap_or_default()
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    }

    /// The first element matching a CSS selector (panics naming it when there is none).
    pub async fn find(&self, css: &str) -> String {
        self.find_all(css)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element matches {css:?}"))
    }

    /// Clicks an element.
    pub async fn click(&self, element: &str) {
        self.cmd("POST", &format!("/element/{element}/click"), None)
            .await
            .unwrap_or_else(|e| panic!("click: {e}"));
    }

    /// Types `text` into an element.
    pub async fn type_into(&self, element: &str, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await
        .unwrap_or_else(|e| panic!("type: {e}"));
    }

    /// An element's attribute or property.
    pub async fn property(&self, element: &str, name: &str) -> String {
        self.cmd("GET", &format!("/element/{element}/property/{name}"), None)
            .await
            .unwrap_or_default()
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs a script in the page (`arguments` are `args`), returning its value.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Runs an asynchronous script (it calls `arguments[arguments.length - 1]` with its value).
    pub async fn exec_async(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
        .await
        .unwrap_or_else(|e| panic!("async script failed: {e}"))
    }

    /// The text of the page as shown.
    pub async fn text(&self) -> String {
        self.exec(
            "return document.body ? document.body.innerText : ''",
            json!([]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Sends keys to the focused element (W3C actions: one key press each).
    pub async fn press(&self, key: &str) {
        let actions: Vec<Value> = key
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await
        .unwrap_or_else(|e| panic!("keys: {e}"));
    }

    /// Writes a PNG screenshot of the window to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let b64 = self.cmd("GET", "/screenshot", None).await.unwrap();
        let png = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            b64.as_str().unwrap_or_default(),
        )
        .expect("a base64 PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Waits until `script`, run in the page with `args`, returns `true` (every 100 ms; the
    /// page itself is never reloaded by this), or panics naming `what` after `secs`.
    pub async fn wait_js(&self, what: &str, secs: u64, script: &str, args: Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while self.exec(script, args.clone()).await != Value::Bool(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not seen in {secs} s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's text satisfies `check` (re-reading it every 100 ms; the page
    /// itself is never reloaded by this), or panics naming `what` after `secs`.
    pub async fn wait_text(&self, what: &str, secs: u64, check: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.text().await;
            if check(&text) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not seen in {secs} s; the page shows:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends chromedriver and the browser it started (one process group).
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.driver.id()))
            .status();
        let _ = self.driver.wait();
    }
}
