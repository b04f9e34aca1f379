//! The credential of `Authorization: Bearer <credential>`, read the same way by every
//! service, its rate limiter and its internal routes.

use actix_web::http::header;
use actix_web::http::header::HeaderMap;

/// The credential of `Authorization: Bearer <credential>` (scheme case-insensitive,
/// surrounding spaces ignored); `None` without one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credential)| credential.trim())
        .filter(|credential| !credential.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(value: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        map
    }

    #[test]
    fn only_a_bearer_credential_counts() {
        assert_eq!(bearer(&headers("Bearer cvk_abc")), Some("cvk_abc"));
        assert_eq!(bearer(&headers("bearer   cvk_abc ")), Some("cvk_abc"));
        assert_eq!(bearer(&headers("Basic dXNlcjpwYXNz")), None);
        assert_eq!(bearer(&headers("Bearer")), None);
        assert_eq!(bearer(&headers("Bearer  ")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
