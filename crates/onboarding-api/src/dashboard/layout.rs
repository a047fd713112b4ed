//! The dashboard's page frame and HTML helpers: escaping, the navigation (one list every
//! page plugs into), the live-update switch, forms with their form token, times. Pure: no
//! Redis, no clock (the caller passes `now`).
//!
//! Live updates: a page rendered live carries `data-live` and loads `/dashboard/live.js`
//! (a same-origin file, allowed by the CSP's `script-src 'self'`; no inline script), which
//! re-fetches the page every few seconds and swaps its `<main>` while no control in it has
//! the focus. Without JavaScript, a `<noscript>` meta refresh reloads the page instead; the
//! "pause live updates" link (`live=0`) stops both.

use std::fmt::Write;

use onboarding_steps::Timestamp;

use crate::auth::Forms;

/// One entry of the navigation: a page of the dashboard. A new page adds its entry to
/// [`NAV`] and its route in `dashboard::routes`.
pub(crate) struct NavEntry {
    /// The page's path.
    pub(crate) path: &'static str,
    /// The link text.
    pub(crate) label: &'static str,
}

/// The navigation, in order.
pub(crate) const NAV: &[NavEntry] = &[
    NavEntry {
        path: "/dashboard",
        label: "Runs",
    },
    NavEntry {
        path: "/dashboard/dead",
        label: "Dead letters",
    },
    NavEntry {
        path: "/dashboard/campaigns",
        label: "Campaigns",
    },
    NavEntry {
        path: "/dashboard/drift",
        label: "Drift",
    },
];

/// Seconds between live updates (the script's poll and the no-script meta refresh).
pub(crate) const LIVE_SECS: u64 = 3;

/// Escapes text for HTML (element content and quoted attribute values).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value (`application/x-www-form-urlencoded`).
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// `path?k=v&…` with the empty values left out.
pub(crate) fn link(path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// A page's `live` parameter: empty or `1` updates the page itself, `0` pauses it; anything
/// else is refused, naming the parameter.
pub(crate) fn live_param(value: &str) -> Result<bool, String> {
    match value {
        "" | "1" => Ok(true),
        "0" => Ok(false),
        other => Err(format!("live: {other:?} is neither 0 nor 1")),
    }
}

/// The query of a page whose only parameter is `live` (see [`live_param`]; a bad value is
/// refused by the extractor).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct LiveQuery {
    /// Whether the page updates itself.
    #[serde(default = "updating", deserialize_with = "live_flag")]
    pub(crate) live: bool,
}

fn updating() -> bool {
    true
}

fn live_flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value: String = serde::Deserialize::deserialize(d)?;
    live_param(&value).map_err(serde::de::Error::custom)
}

/// The frame of a page at `path` whose only parameter is `live`.
pub(crate) fn simple_frame<'a>(title: &'a str, nav: &'a str, path: &str, live: bool) -> Frame<'a> {
    Frame {
        title,
        nav,
        live,
        toggle: link(path, &[("live", if live { "0" } else { "" })]),
    }
}

/// What a page needs from the frame.
pub(crate) struct Frame<'a> {
    /// The `<title>` and `<h1>`.
    pub(crate) title: &'a str,
    /// The navigation entry to mark current.
    pub(crate) nav: &'a str,
    /// Whether the page updates itself.
    pub(crate) live: bool,
    /// The page's own URL with live updates switched the other way.
    pub(crate) toggle: String,
}

/// The whole page around `body`.
pub(crate) fn page(frame: &Frame<'_>, body: &str) -> String {
    let mut nav = String::new();
    for e in NAV {
        let current = if e.path == frame.nav {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            nav,
            "<li><a href=\"{}\"{current}>{}</a></li>",
            e.path,
            esc(e.label)
        );
    }
    let (refresh, script, live_attr, live_text, toggle_text) = if frame.live {
        (
            format!("<noscript><meta http-equiv=\"refresh\" content=\"{LIVE_SECS}\"></noscript>"),
            "<script src=\"/dashboard/live.js\" defer></script>",
            " data-live",
            format!("Live: this page updates every {LIVE_SECS} seconds."),
            "Pause live updates",
        )
    } else {
        (
            String::new(),
            "",
            "",
            "Live updates are paused.".to_owned(),
            "Resume live updates",
        )
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}\
         <title>{t} · onboard</title><link rel=\"stylesheet\" href=\"/dashboard/style.css\">{script}</head>\
         <body{live_attr}><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><nav aria-label=\"Dashboard\"><ul>{nav}</ul></nav>\
         <p class=\"live\"><span id=\"live-status\" role=\"status\">{live_text}</span> \
         <a href=\"{toggle}\">{toggle_text}</a></p></header>\
         <main id=\"main\" tabindex=\"-1\"><h1>{t}</h1>{body}</main></body></html>",
        t = esc(frame.title),
        toggle = esc(&frame.toggle),
    )
}

/// The dashboard's style sheet (`/dashboard/style.css`). State colours always come with the
/// state's name in text; every colour pair has a contrast of at least 4.5:1.
pub(crate) const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:0 1.5em 1.5em;color:#1f1f1f;background:#fff}\
header{display:flex;flex-wrap:wrap;gap:1em;align-items:center;justify-content:space-between;border-bottom:1px solid #ccc}\
nav ul{list-style:none;display:flex;gap:1.2em;padding:0;margin:.8em 0}\
nav a[aria-current]{font-weight:bold;text-decoration:underline 3px}\
.skip{position:absolute;left:-999px}.skip:focus{left:1em;top:.5em;background:#fff;padding:.3em}\
.live{font-size:.9em;margin:.4em 0}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border-bottom:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
.state{font-weight:600}.state::before{content:'';display:inline-block;width:.6em;height:.6em;margin-right:.3em;border-radius:50%;background:currentColor}\
.succeeded{color:#176c2f}.failed,.cancelled,.dead{color:#a1251b}.waiting_for_operator,.retry_scheduled{color:#7a5200}\
.box{border:1px solid #c59a3c;background:#fff8e6;padding:.6em 1em;margin:.5em 0}\
.notice{border-left:4px solid #0b57d0;padding:.3em .8em;background:#eef3fd}\
.error{border-left:4px solid #a1251b;padding:.3em .8em;background:#fdeeee}\
.bar{display:inline-block;width:10em;height:.8em;background:#e8e8e8;vertical-align:middle}.bar span{display:block;height:100%;background:#176c2f}\
.completed{color:#176c2f}.halted,.aborted{color:#a1251b}.paused{color:#7a5200}\
.stats{display:flex;flex-wrap:wrap;gap:.6em;padding:0;list-style:none}.stats li{border:1px solid #ccc;padding:.4em .8em}\
form.inline{display:inline}button{margin:.1em .4em .1em 0;padding:.25em .7em}\
fieldset{border:1px solid #ccc;margin:.5em 0}label{margin-right:.3em}\
input,select,button{font:inherit}\
a{color:#0b57d0}:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}\
details{margin:.2em 0}.muted{color:#595959}\n";

/// A form posting to `path` with the token for `action` on `target` and `extra` controls;
/// nothing for a user who may not act.
pub(crate) fn form(
    forms: &Forms,
    path: &str,
    action: &str,
    target: &str,
    extra: &str,
    label: &str,
) -> String {
    if !forms.can_act {
        return String::new();
    }
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{extra}<button type=\"submit\">{}</button></form>",
        esc(path),
        forms.token(action, target),
        esc(label)
    )
}

/// A state as a badge: its colour and its name in words.
pub(crate) fn state(name: &str) -> String {
    format!(
        "<span class=\"state {n}\">{}</span>",
        esc(&name.replace('_', " ")),
        n = esc(name)
    )
}

/// `t` as `HH:MM:SS UTC (in 2 min)` or `(5 s ago)` relative to `now`.
pub(crate) fn when(t: Timestamp, now: Timestamp) -> String {
    let (d, future) = if t.0 >= now.0 {
        (t.0 - now.0, true)
    } else {
        (now.0 - t.0, false)
    };
    let secs = d / 1000;
    let span = if secs < 90 {
        format!("{secs} s")
    } else if secs < 90 * 60 {
        format!("{} min", secs / 60)
    } else if secs < 48 * 3600 {
        format!("{} h", secs / 3600)
    } else {
        format!("{} days", secs / 86_400)
    };
    let rel = if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    };
    format!(
        "<time datetime=\"{}\">{} ({rel})</time>",
        t.0,
        t.time_of_day()
    )
}

/// The live-update script (`/dashboard/live.js`): see the module doc.
pub(crate) const LIVE_JS: &str = r#"// onboard dashboard: live updates. Re-fetches this page and swaps its <main> while no
// control inside it has the focus; without JavaScript a <noscript> meta refresh reloads.
(function () {
  "use strict";
  if (!document.body.hasAttribute("data-live")) return;
  var status = document.getElementById("live-status");
  function say(text) { if (status) status.textContent = text; }
  function busy(main) {
    var f = document.activeElement;
    return f && f !== document.body && f !== main && main.contains(f);
  }
  function tick() {
    var main = document.querySelector("main");
    if (!main || busy(main)) { later(); return; }
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        var now = document.querySelector("main");
        if (fresh && now && !busy(now)) now.innerHTML = fresh.innerHTML;
        say("Live: updated at " + new Date().toLocaleTimeString() + ".");
      })
      .catch(function (e) { say("Live update failed (" + e.message + "); reload the page."); })
      .then(later);
  }
  function later() { setTimeout(tick, LIVE_MS); }
  later();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_links() {
        assert_eq!(
            esc("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
        assert_eq!(
            link("/d", &[("q", "a b&c"), ("state", ""), ("t", "ü")]),
            "/d?q=a+b%26c&t=%C3%BC"
        );
        assert_eq!(link("/d", &[("q", "")]), "/d");
    }

    #[test]
    fn times_read_relative_to_now() {
        let now = Timestamp(10_000_000);
        assert!(when(Timestamp(10_120_000), now).contains("(in 2 min)"));
        assert!(when(Timestamp(9_995_000), now).contains("(5 s ago)"));
    }
}
