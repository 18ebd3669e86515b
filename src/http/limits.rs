//! Who the client is (peer address, or the forwarded one behind a trusted proxy) and the
//! per-client request limit, answered with `RateLimit-*` headers and 429 past the limit.
//! Counts are per instance, or shared through Redis when configured; if Redis is down the
//! per-instance count applies, so the limit never fails open.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Mutex,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use ipnet::IpNet;

use super::{AppState, error::ApiError};

/// The client's address as Castellan believes it.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// Proxies whose forwarding headers are believed.
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn parse(list: &[String]) -> Self {
        let nets = list
            .iter()
            .filter_map(|p| {
                p.parse::<IpNet>()
                    .ok()
                    .or_else(|| p.parse::<IpAddr>().ok().map(IpNet::from))
            })
            .collect();
        Self(nets)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Walks the forwarding chain from the nearest hop and stops at the first address that
    /// is not a trusted proxy: that is the client. Without a trusted peer, the peer it is.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut chain = forwarded_for(headers);
        let mut client = peer;
        while let Some(hop) = chain.pop() {
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// Addresses from `Forwarded: for=…` (RFC 7239) or else `X-Forwarded-For`, nearest last.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<IpAddr> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.eq_ignore_ascii_case("for").then(|| parse_node(v))?
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| parse_node(s.trim()))
        .collect()
}

/// `203.0.113.7`, `"[2001:db8::1]:4711"`, `198.51.100.1:80`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Ok(sock) = s.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|ip| ip.parse().ok())
}

/// Fixed-window counters kept in this process.
#[derive(Default)]
pub struct LocalCounters {
    windows: Mutex<HashMap<(IpAddr, bool), (i64, u64)>>,
}

impl LocalCounters {
    fn count(&self, key: (IpAddr, bool), window: i64) -> u64 {
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // Bounded memory: forget every window but the current one.
            map.retain(|_, (w, _)| *w == window);
        }
        let entry = map.entry(key).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1
    }
}

fn is_ops(path: &str) -> bool {
    path.starts_with("/health") || path.starts_with("/.well-known/")
}

pub async fn limit_requests(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = peer.map(|p| app.http().proxies.client(p, req.headers()));
    if let Some(ip) = ip {
        req.extensions_mut().insert(ClientIp(ip));
    }
    let limits = &app.settings.limits;
    let ops = is_ops(req.uri().path());
    let limit = if ops {
        limits.ops_requests
    } else {
        limits.requests
    };
    let (Some(ip), true) = (ip, limit > 0) else {
        return next.run(req).await;
    };
    let window_len = limits.window.as_secs().max(1);
    let now = app.clock.now();
    let window = now / window_len;
    let reset = (window + 1) * window_len - now;
    let key = format!("rl:{}:{ip}:{window}", if ops { "ops" } else { "api" });
    let shared = match &app.redis {
        Some(redis) => redis.count(&key, window_len as u64 + 1).await,
        None => None,
    };
    let count = match shared {
        Some(n) => n,
        None => app.http().counters.count((ip, ops), window),
    };
    let mut response = if count > limit {
        super::input::discard(req.into_body()).await;
        ApiError::rate_limited(reset.max(1) as u64).into_response()
    } else {
        next.run(req).await
    };
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(limit));
    headers.insert(
        "ratelimit-remaining",
        HeaderValue::from(limit.saturating_sub(count)),
    );
    headers.insert("ratelimit-reset", HeaderValue::from(reset.max(0) as u64));
    if let Ok(policy) = HeaderValue::from_str(&format!("{limit};w={window_len}")) {
        headers.insert("ratelimit-policy", policy);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarding_headers_are_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "127.0.0.1".into()]);
        let spoof = headers(&[("x-forwarded-for", "1.2.3.4")]);
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(proxies.client(stranger, &spoof), stranger);
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(
            proxies.client(proxy, &spoof),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        // A client cannot prepend a fake hop: the chain is read from the nearest end.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.9.9.9")]);
        assert_eq!(
            proxies.client(proxy, &chain),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let fwd = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(
            proxies.client(proxy, &fwd),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }
}
