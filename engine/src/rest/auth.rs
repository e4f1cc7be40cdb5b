//! Authentication of the REST API, the way ksqlDB's `authentication.method=BASIC` does it:
//! users and their roles come from a password file in the format of Jetty's
//! PropertyFileLoginModule (`user: password[,role...]`), a request without valid
//! credentials gets 401 with `WWW-Authenticate` and ksqlDB's `generic_error` body (error
//! code 40100), a user without one of the allowed roles (`authentication.roles`) gets 403
//! (40300), and /healthcheck, like the paths of `authentication.skip.paths`, needs no
//! credentials. Bearer tokens (`Authorization: Bearer TOKEN`) from a token file may be
//! accepted besides or instead. Secrets are compared through their digests in constant time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// Paths ksqlDB serves without credentials whatever its settings say (its AuthHandlers'
/// KSQL_AUTHENTICATION_SKIP_PATHS holds /healthcheck and two paths the engine does not
/// have): load balancers and container health checks carry no credentials.
pub const ALWAYS_OPEN: [&str; 1] = ["/healthcheck"];

/// The realm `WWW-Authenticate` names unless one is configured.
pub const DEFAULT_REALM: &str = "advisor-engine";

/// Which credentials a request may carry: ksqlDB's `authentication.method` (NONE or BASIC),
/// with bearer tokens besides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Methods {
    pub basic: bool,
    pub bearer: bool,
}

impl Methods {
    pub fn any(self) -> bool {
        self.basic || self.bearer
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an authentication method: none, basic, bearer, or basic,bearer")]
pub struct MethodError(String);

impl FromStr for Methods {
    type Err = MethodError;

    /// `none`, `basic`, `bearer` or `basic,bearer`, in any case.
    fn from_str(text: &str) -> Result<Methods, MethodError> {
        let mut methods = Methods::default();
        for part in text.split(',').map(str::trim) {
            match part.to_ascii_lowercase().as_str() {
                "none" => {}
                "basic" => methods.basic = true,
                "bearer" => methods.bearer = true,
                _ => return Err(MethodError(text.to_string())),
            }
        }
        Ok(methods)
    }
}

/// The authentication settings as configured (flags, ENGINE_* variables, engine.toml's
/// `[auth]`), before the files are read.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    pub methods: Methods,
    /// `user: password[,role...]` lines, for basic authentication.
    pub password_file: Option<PathBuf>,
    /// One token a line, for bearer authentication.
    pub token_file: Option<PathBuf>,
    /// `authentication.realm`; [`DEFAULT_REALM`] when unset.
    pub realm: Option<String>,
    /// `authentication.roles`: a user needs one of them. Empty, `*` or `**`: any user of the
    /// password file.
    pub roles: Vec<String>,
    /// `authentication.skip.paths`: paths served without credentials, `*` matching anything.
    pub skip_paths: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: expected `user: password[,role...]`", path.display())]
    Malformed { path: PathBuf, line: usize },
    #[error("{}:{line}: {user}'s {detail}", path.display())]
    Credential {
        path: PathBuf,
        line: usize,
        user: String,
        detail: &'static str,
    },
    #[error("{} names no {what}", path.display())]
    Empty { path: PathBuf, what: &'static str },
    #[error("basic authentication needs a password file (--auth-password-file)")]
    NoPasswordFile,
    #[error("bearer authentication needs a token file (--auth-token-file)")]
    NoTokenFile,
    #[error("{0} is set but authentication is off: add --auth basic or --auth bearer")]
    UnusedSetting(&'static str),
}

/// What a password file holds for one user: the digest of the password and the roles.
struct User {
    credential: Credential,
    roles: Vec<String>,
}

/// A password as Jetty's PropertyUserStore reads it: plain or `OBF:` (kept as its SHA-256)
/// or `MD5:` (kept as given).
enum Credential {
    Sha256(Vec<u8>),
    Md5(Vec<u8>),
}

impl Credential {
    fn matches(&self, password: &[u8]) -> bool {
        match self {
            Credential::Sha256(digest) => digest.ct_eq(&Sha256::digest(password)[..]).into(),
            Credential::Md5(digest) => {
                use md5::Digest as _;
                digest.ct_eq(&md5::Md5::digest(password)[..]).into()
            }
        }
    }
}

/// Who may call the API, and on which paths no one needs to say.
pub struct Auth {
    methods: Methods,
    realm: String,
    users: HashMap<String, User>,
    /// SHA-256 of each bearer token.
    tokens: Vec<Vec<u8>>,
    /// None: any user of the password file.
    roles: Option<Vec<String>>,
    open: Vec<String>,
}

/// What [`Auth::check`] decided about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A path served without credentials.
    Open,
    /// Credentials that hold: the user's name, or "bearer token".
    Allowed(String),
    /// No credentials, or ones that do not hold; why, for the log (never the client).
    Unauthorized(&'static str),
    /// A user of the password file without an allowed role.
    Forbidden(String),
}

/// Base64 as clients write it, with or without the padding.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

impl Auth {
    /// Reads the files the settings name; None when authentication is off.
    pub fn from_settings(settings: &AuthSettings) -> Result<Option<Auth>, AuthError> {
        let methods = settings.methods;
        if !methods.any() {
            let unused = [
                (settings.password_file.is_some(), "a password file"),
                (settings.token_file.is_some(), "a token file"),
                (settings.realm.is_some(), "a realm"),
                (!settings.roles.is_empty(), "a role"),
                (!settings.skip_paths.is_empty(), "a skip path"),
            ];
            return match unused.into_iter().find(|(set, _)| *set) {
                Some((_, what)) => Err(AuthError::UnusedSetting(what)),
                None => Ok(None),
            };
        }
        let users = match (&settings.password_file, methods.basic) {
            (Some(path), true) => parse_password_file(&read(path)?, path)?,
            (None, true) => return Err(AuthError::NoPasswordFile),
            (Some(_), false) => return Err(AuthError::UnusedSetting("a password file")),
            (None, false) => HashMap::new(),
        };
        let tokens = match (&settings.token_file, methods.bearer) {
            (Some(path), true) => parse_token_file(&read(path)?, path)?,
            (None, true) => return Err(AuthError::NoTokenFile),
            (Some(_), false) => return Err(AuthError::UnusedSetting("a token file")),
            (None, false) => Vec::new(),
        };
        let roles: Vec<String> = settings
            .roles
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        // ksqlDB (after Jetty): `**` is any authenticated user; `*` alone is the default.
        let any_role = roles.is_empty() || roles.iter().any(|r| r == "*" || r == "**");
        let mut open: Vec<String> = ALWAYS_OPEN.iter().map(|p| p.to_string()).collect();
        open.extend(
            settings
                .skip_paths
                .iter()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty()),
        );
        Ok(Some(Auth {
            methods,
            realm: settings
                .realm
                .clone()
                .unwrap_or_else(|| DEFAULT_REALM.into()),
            users,
            tokens,
            roles: (!any_role).then_some(roles),
            open,
        }))
    }

    /// One line for the start-up log: the methods, how many credentials, the open paths.
    pub fn describe(&self) -> String {
        let mut methods = Vec::new();
        if self.methods.basic {
            methods.push(format!("basic ({} users)", self.users.len()));
        }
        if self.methods.bearer {
            methods.push(format!("bearer ({} tokens)", self.tokens.len()));
        }
        let roles = match &self.roles {
            Some(roles) => format!("roles {}", roles.join(", ")),
            None => "any role".into(),
        };
        format!(
            "{} in realm {:?}, {roles}; open without credentials: {}",
            methods.join(" and "),
            self.realm,
            self.open.join(", ")
        )
    }

    /// Decides about one request from its path and its Authorization header, as ksqlDB's
    /// AuthHandlers do: a skipped path first, then Basic credentials, then a bearer token.
    pub fn check(&self, path: &str, headers: &HeaderMap) -> Verdict {
        if self
            .open
            .iter()
            .any(|pattern| wildcard_match(pattern, path))
        {
            return Verdict::Open;
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Verdict::Unauthorized("no Authorization header");
        };
        let Ok(value) = value.to_str() else {
            return Verdict::Unauthorized("an Authorization header that is not text");
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if self.methods.basic && scheme.eq_ignore_ascii_case("basic") {
            return self.check_basic(rest);
        }
        if self.methods.bearer && scheme.eq_ignore_ascii_case("bearer") {
            return self.check_bearer(rest);
        }
        Verdict::Unauthorized("an authentication scheme the server does not take")
    }

    fn check_basic(&self, encoded: &str) -> Verdict {
        let Ok(decoded) = BASE64.decode(encoded) else {
            return Verdict::Unauthorized("Basic credentials that are not base64");
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return Verdict::Unauthorized("Basic credentials that are not UTF-8");
        };
        let Some((name, password)) = decoded.split_once(':') else {
            return Verdict::Unauthorized("Basic credentials without a colon");
        };
        let Some(user) = self.users.get(name) else {
            // Hash anyway, so an unknown user takes as long as a wrong password.
            let _ = Credential::Sha256(vec![0; 32]).matches(password.as_bytes());
            return Verdict::Unauthorized("an unknown user");
        };
        if !user.credential.matches(password.as_bytes()) {
            return Verdict::Unauthorized("a wrong password");
        }
        match &self.roles {
            Some(allowed) if !user.roles.iter().any(|r| allowed.contains(r)) => {
                Verdict::Forbidden(name.to_string())
            }
            _ => Verdict::Allowed(name.to_string()),
        }
    }

    fn check_bearer(&self, token: &str) -> Verdict {
        let given = Sha256::digest(token.as_bytes());
        // Every token is compared, so the time taken says nothing of which one matched.
        let matched = self
            .tokens
            .iter()
            .fold(subtle::Choice::from(0), |found, digest| {
                found | digest.ct_eq(&given[..])
            });
        if bool::from(matched) {
            Verdict::Allowed("bearer token".into())
        } else {
            Verdict::Unauthorized("an unknown bearer token")
        }
    }

    /// 401 with a challenge for each method taken and ksqlDB's body.
    fn unauthorized(&self) -> Response {
        let mut response =
            super::generic_error(StatusCode::UNAUTHORIZED, 40100, "Unauthorized".into());
        let realm = self.realm.replace('\\', "\\\\").replace('"', "\\\"");
        let schemes = [
            (self.methods.basic, "Basic"),
            (self.methods.bearer, "Bearer"),
        ];
        for (_, scheme) in schemes.into_iter().filter(|(on, _)| *on) {
            if let Ok(challenge) = HeaderValue::from_str(&format!("{scheme} realm=\"{realm}\"")) {
                response
                    .headers_mut()
                    .append(header::WWW_AUTHENTICATE, challenge);
            }
        }
        response
    }
}

/// The middleware: refuses a request that [`Auth::check`] does not let through, before
/// its body is read.
pub async fn authenticate(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    match auth.check(&path, request.headers()) {
        Verdict::Open => next.run(request).await,
        Verdict::Allowed(who) => {
            tracing::debug!(%path, %who, "authenticated");
            next.run(request).await
        }
        Verdict::Unauthorized(why) => {
            tracing::warn!(%path, "refused a request with {why}");
            auth.unauthorized()
        }
        Verdict::Forbidden(user) => {
            tracing::warn!(%path, %user, "refused a user without an allowed role");
            super::generic_error(StatusCode::FORBIDDEN, 40300, "Forbidden".into())
        }
    }
}

fn read(path: &Path) -> Result<String, AuthError> {
    std::fs::read_to_string(path).map_err(|source| AuthError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A password file as Jetty's PropertyUserStore reads it (a Java properties file):
/// `user: password[,role...]` (or `=`) a line, `#` and `!` lines comments.
fn parse_password_file(text: &str, path: &Path) -> Result<HashMap<String, User>, AuthError> {
    let mut users = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let malformed = || AuthError::Malformed {
            path: path.to_path_buf(),
            line: line_number,
        };
        let split = line.find([':', '=']).ok_or_else(malformed)?;
        let (name, value) = (line[..split].trim(), line[split + 1..].trim());
        let (password, roles) = value.split_once(',').unwrap_or((value, ""));
        let password = password.trim();
        if name.is_empty() || password.is_empty() {
            return Err(malformed());
        }
        let bad = |detail| AuthError::Credential {
            path: path.to_path_buf(),
            line: line_number,
            user: name.to_string(),
            detail,
        };
        let credential = if let Some(obfuscated) = password.strip_prefix("OBF:") {
            let plain = deobfuscate(obfuscated).ok_or_else(|| bad("OBF: password is not valid"))?;
            Credential::Sha256(Sha256::digest(plain.as_bytes()).to_vec())
        } else if let Some(hex) = password.strip_prefix("MD5:") {
            Credential::Md5(
                decode_hex(hex).ok_or_else(|| bad("MD5: password is not 32 hex digits"))?,
            )
        } else if password.starts_with("CRYPT:") {
            return Err(bad(
                "CRYPT: password is not supported: give it plain, as OBF: or as MD5:",
            ));
        } else {
            Credential::Sha256(Sha256::digest(password.as_bytes()).to_vec())
        };
        let roles = roles
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect();
        users.insert(name.to_string(), User { credential, roles });
    }
    if users.is_empty() {
        return Err(AuthError::Empty {
            path: path.to_path_buf(),
            what: "user",
        });
    }
    Ok(users)
}

/// One token a line; blank lines and `#` lines are skipped.
fn parse_token_file(text: &str, path: &Path) -> Result<Vec<Vec<u8>>, AuthError> {
    let tokens: Vec<Vec<u8>> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|token| Sha256::digest(token.as_bytes()).to_vec())
        .collect();
    if tokens.is_empty() {
        return Err(AuthError::Empty {
            path: path.to_path_buf(),
            what: "token",
        });
    }
    Ok(tokens)
}

/// Jetty's Password.deobfuscate: four base-36 digits a byte (five, after a `U`, for the
/// bytes it wrote that way).
fn deobfuscate(text: &str) -> Option<String> {
    let text = text.as_bytes();
    let mut bytes = Vec::with_capacity(text.len() / 4);
    let mut i = 0;
    while i < text.len() {
        let wide = text[i] == b'U';
        if wide {
            i += 1;
        }
        let digits = std::str::from_utf8(text.get(i..i + 4)?).ok()?;
        let n = u32::from_str_radix(digits, 36).ok()?;
        let byte = if wide {
            n >> 8
        } else {
            ((n / 256 + n % 256).checked_sub(254)?) / 2
        };
        bytes.push(u8::try_from(byte & 0xff).ok()?);
        i += 4;
    }
    String::from_utf8(bytes).ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 32 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// ksqlDB's skip-path patterns: the whole path, `*` matching any run of characters.
fn wildcard_match(pattern: &str, path: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return pattern == path;
    };
    let Some(mut rest) = path.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(methods: &str, roles: &[&str], skip: &[&str]) -> Auth {
        let folder = tempfile::tempdir().unwrap();
        let passwords = folder.path().join("passwords");
        std::fs::write(
            &passwords,
            "# ksqlDB's example users\nfred: OBF:1w8t1tvf1w261w8v1w1c1tvn1w8x,user,admin\n\
             harry: changeme,user,developer\ntom= MD5:0d107d09f5bbe40cade3de5c71e9e9b7 ,user\n\
             ! another comment\n\nana: pass:word,admin\n",
        )
        .unwrap();
        let tokens = folder.path().join("tokens");
        std::fs::write(&tokens, "# tokens\nsecret-token-1\n\nsecret-token-2\n").unwrap();
        let methods: Methods = methods.parse().unwrap();
        Auth::from_settings(&AuthSettings {
            methods,
            password_file: methods.basic.then_some(passwords),
            token_file: methods.bearer.then_some(tokens),
            realm: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            skip_paths: skip.iter().map(|p| p.to_string()).collect(),
        })
        .unwrap()
        .unwrap()
    }

    fn with(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        headers
    }

    fn basic(user: &str, password: &str) -> HeaderMap {
        with(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        ))
    }

    #[test]
    fn methods_parse_like_ksqldb_authentication_method() {
        assert_eq!("NONE".parse::<Methods>().unwrap(), Methods::default());
        assert_eq!(
            "basic".parse::<Methods>().unwrap(),
            Methods {
                basic: true,
                bearer: false
            }
        );
        assert!("Basic, Bearer".parse::<Methods>().unwrap().bearer);
        assert!("digest".parse::<Methods>().is_err());
    }

    #[test]
    fn plain_obfuscated_and_md5_passwords_are_checked() {
        let auth = configured("basic", &[], &[]);
        assert_eq!(
            auth.check("/ksql", &basic("fred", "letmein")),
            Verdict::Allowed("fred".into())
        );
        assert_eq!(
            auth.check("/ksql", &basic("harry", "changeme")),
            Verdict::Allowed("harry".into())
        );
        assert_eq!(
            auth.check("/ksql", &basic("tom", "letmein")),
            Verdict::Allowed("tom".into())
        );
        // A password may hold a colon; the user name may not.
        assert_eq!(
            auth.check("/ksql", &basic("ana", "pass:word")),
            Verdict::Allowed("ana".into())
        );
        for refused in [
            basic("harry", "changeme!"),
            basic("harry", ""),
            basic("nobody", "changeme"),
            with("Basic !!!"),
            with("Bearer secret-token-1"),
            HeaderMap::new(),
        ] {
            assert!(
                matches!(auth.check("/ksql", &refused), Verdict::Unauthorized(_)),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn roles_limit_users_and_healthcheck_and_skip_paths_stay_open() {
        let auth = configured("basic", &["admin"], &["/metrics", "/static/*"]);
        assert_eq!(
            auth.check("/ksql", &basic("harry", "changeme")),
            Verdict::Forbidden("harry".into())
        );
        assert_eq!(
            auth.check("/ksql", &basic("fred", "letmein")),
            Verdict::Allowed("fred".into())
        );
        for open in ["/healthcheck", "/metrics", "/static/a/b"] {
            assert_eq!(auth.check(open, &HeaderMap::new()), Verdict::Open, "{open}");
        }
        for closed in ["/healthcheck/", "/metricsx", "/static", "/info"] {
            assert!(
                matches!(
                    auth.check(closed, &HeaderMap::new()),
                    Verdict::Unauthorized(_)
                ),
                "{closed}"
            );
        }
        let any = configured("basic", &["**"], &[]);
        assert_eq!(
            any.check("/ksql", &basic("harry", "changeme")),
            Verdict::Allowed("harry".into())
        );
    }

    #[test]
    fn bearer_tokens_are_taken_beside_basic_credentials() {
        let auth = configured("basic,bearer", &[], &[]);
        assert_eq!(
            auth.check("/ksql", &with("Bearer secret-token-2")),
            Verdict::Allowed("bearer token".into())
        );
        assert_eq!(
            auth.check("/ksql", &with("bearer  secret-token-1 ")),
            Verdict::Allowed("bearer token".into())
        );
        assert!(matches!(
            auth.check("/ksql", &with("Bearer secret-token-3")),
            Verdict::Unauthorized(_)
        ));
        assert!(matches!(
            auth.check("/ksql", &basic("harry", "changeme")),
            Verdict::Allowed(_)
        ));
        let response = auth.unauthorized();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<_> = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            challenges,
            [
                "Basic realm=\"advisor-engine\"",
                "Bearer realm=\"advisor-engine\""
            ]
        );
    }

    #[test]
    fn settings_that_would_leave_the_api_open_or_cannot_work_are_refused() {
        let file = Some(PathBuf::from("/nonexistent"));
        let refused = |settings: AuthSettings| Auth::from_settings(&settings).err().unwrap();
        assert!(matches!(
            refused(AuthSettings {
                password_file: file.clone(),
                ..Default::default()
            }),
            AuthError::UnusedSetting("a password file")
        ));
        let basic = Methods {
            basic: true,
            bearer: false,
        };
        assert!(matches!(
            refused(AuthSettings {
                methods: basic,
                ..Default::default()
            }),
            AuthError::NoPasswordFile
        ));
        assert!(matches!(
            refused(AuthSettings {
                methods: basic,
                password_file: file,
                ..Default::default()
            }),
            AuthError::Read { .. }
        ));
        assert!(Auth::from_settings(&AuthSettings::default())
            .unwrap()
            .is_none());
    }

    #[test]
    fn bad_password_files_name_the_line() {
        let path = Path::new("passwords");
        let error = parse_password_file("a: b\njust-a-name\n", path)
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "passwords:2: expected `user: password[,role...]`"
        );
        let error = parse_password_file("dick: CRYPT:adpexzg3FUZAk,admin\n", path)
            .err()
            .unwrap();
        assert!(error
            .to_string()
            .contains("CRYPT: password is not supported"));
        let error = parse_password_file("tom: MD5:abc\n", path).err().unwrap();
        assert!(error.to_string().contains("32 hex digits"), "{error}");
        assert!(parse_password_file("# nobody\n", path).is_err());
    }

    #[test]
    fn wildcards_match_like_ksqldb_skip_paths() {
        assert!(wildcard_match("/info", "/info"));
        assert!(!wildcard_match("/info", "/info/x"));
        assert!(wildcard_match("/ws/*", "/ws/a"));
        assert!(wildcard_match("*", "/anything"));
        assert!(wildcard_match("/a*b*c", "/axxbyyc"));
        assert!(!wildcard_match("/a*b*c", "/axxbyy"));
        assert!(!wildcard_match("/a*a", "/a"));
    }
}
