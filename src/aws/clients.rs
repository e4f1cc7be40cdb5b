//! The AWS clients, from aws-config's default chain (env, profile, SSO, instance role).
//! `AWS_ENDPOINT_URL` points every client elsewhere (moto in the tests) without code.

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;

pub struct Clients {
    pub region: String,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub discovery: aws_sdk_servicediscovery::Client,
    pub sts: aws_sdk_sts::Client,
}

/// HTTPS for every client, credential providers (SSO, IMDS) included: rustls with ring and
/// the system's root certificates.
pub fn https_client() -> aws_sdk_ecs::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

impl Clients {
    pub async fn load(profile: Option<&str>, region: &str) -> Clients {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .region(aws_config::Region::new(region.to_string()))
            // Throttling is retried with backoff; five attempts ride out a burst.
            .retry_config(RetryConfig::standard().with_max_attempts(5));
        if let Some(profile) = profile {
            loader = loader.profile_name(profile);
        }
        let config = loader.load().await;
        // S3 on moto (and on many S3-compatible endpoints) needs path-style addressing.
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(std::env::var_os("AWS_ENDPOINT_URL").is_some())
            .build();
        Clients {
            region: region.to_string(),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            ec2: aws_sdk_ec2::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            discovery: aws_sdk_servicediscovery::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
        }
    }
}
