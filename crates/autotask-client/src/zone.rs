//! Zone discovery rules as pure functions: where to ask, how to normalise the answer, and
//! which hosts may receive credentials.

use url::Url;

use crate::{Error, Target};

/// The zone discovery URL for a target.
pub(crate) fn discovery_url(target: &Target) -> Url {
    match target {
        Target::Autotask => {
            Url::parse("https://webservices2.autotask.net/atservicesrest/v1.0/zoneInformation")
                .expect("static URL")
        }
        Target::Explicit(base) => with_slash(base.clone())
            .join("atservicesrest/v1.0/zoneInformation")
            .expect("relative join"),
    }
}

fn with_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// Normalises a zone's REST URL to `…/ATServicesRest/` (trailing slash, no version) and
/// checks that it is an allowed host for the target.
pub(crate) fn normalize_zone_url(raw: &str, target: &Target) -> Result<Url, Error> {
    let refused = |reason: &str| Error::HostNotAllowed {
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url =
        with_slash(Url::parse(raw.trim()).map_err(|e| refused(&format!("not a URL ({e})")))?);
    let path = url.path().to_owned();
    if path.to_ascii_lowercase().ends_with("/v1.0/") {
        url.set_path(&path[..path.len() - "v1.0/".len()]);
    }
    url.set_query(None);
    url.set_fragment(None);
    check_allowed(&url, target).map_err(|reason| refused(&reason))?;
    Ok(url)
}

/// Whether `url` may receive credentials under `target`.
pub(crate) fn check_allowed(url: &Url, target: &Target) -> Result<(), String> {
    match target {
        Target::Autotask => {
            let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
            if url.scheme() != "https" {
                return Err("Autotask is only called over https".into());
            }
            if host == "autotask.net" || host.ends_with(".autotask.net") {
                Ok(())
            } else {
                Err("only *.autotask.net hosts are allowed (configure an explicit base URL for a simulator)".into())
            }
        }
        Target::Explicit(base) => {
            if same_origin(url, base) {
                Ok(())
            } else {
                Err(format!(
                    "only the configured base URL's origin {} is allowed",
                    base.origin().ascii_serialization()
                ))
            }
        }
    }
}

/// Same scheme, host and port.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_urls_are_normalised() {
        let t = Target::Autotask;
        for raw in [
            "https://webservices15.autotask.net/ATServicesRest/",
            "https://webservices15.autotask.net/ATServicesRest",
            "https://webservices15.autotask.net/ATServicesRest/V1.0/",
            " https://webservices15.autotask.net/ATServicesRest/v1.0 ",
        ] {
            assert_eq!(
                normalize_zone_url(raw, &t).unwrap().as_str(),
                "https://webservices15.autotask.net/ATServicesRest/",
                "{raw}"
            );
        }
    }

    #[test]
    fn only_autotask_hosts_unless_explicit() {
        let t = Target::Autotask;
        assert!(normalize_zone_url("https://evil.example.com/ATServicesRest/", &t).is_err());
        assert!(normalize_zone_url("https://autotask.net.evil.com/ATServicesRest/", &t).is_err());
        assert!(
            normalize_zone_url("http://webservices1.autotask.net/ATServicesRest/", &t).is_err()
        );
        let sim = Target::Explicit(Url::parse("http://127.0.0.1:4000").unwrap());
        assert!(normalize_zone_url("http://127.0.0.1:4000/zones/a/ATServicesRest/", &sim).is_ok());
        assert!(normalize_zone_url("http://127.0.0.1:4001/zones/a/ATServicesRest/", &sim).is_err());
        assert!(
            normalize_zone_url("https://webservices1.autotask.net/ATServicesRest/", &sim).is_err()
        );
    }

    #[test]
    fn discovery_urls() {
        assert_eq!(
            discovery_url(&Target::Autotask).as_str(),
            "https://webservices2.autotask.net/atservicesrest/v1.0/zoneInformation"
        );
        let sim = Target::Explicit(Url::parse("http://127.0.0.1:4000/sim").unwrap());
        assert_eq!(
            discovery_url(&sim).as_str(),
            "http://127.0.0.1:4000/sim/atservicesrest/v1.0/zoneInformation"
        );
    }
}
