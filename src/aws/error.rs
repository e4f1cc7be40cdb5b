//! AWS errors as people need them: what was being done, what AWS said, and how to go on.

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("AWS denied {action}: {message}. The credentials in use need permission for it; check the identity with `aws sts get-caller-identity` and its IAM policy")]
    AccessDenied { action: String, message: String },
    #[error("cannot reach AWS while trying to {action}: {message}. Check the network, the region, and AWS_ENDPOINT_URL if it is set")]
    Unreachable { action: String, message: String },
    #[error("AWS refused to {action} because of a quota or limit: {message}. Raise the quota or remove unused resources, then run the command again")]
    Quota { action: String, message: String },
    #[error("AWS could not {action}: {message}")]
    Other { action: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

/// Classifies an SDK error by its code and kind.
pub fn classify<E, R>(action: impl Into<String>, error: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let action = action.into();
    let code = error.code().unwrap_or_default().to_string();
    let message = error
        .message()
        .map(|m| {
            if code.is_empty() {
                m.to_string()
            } else {
                format!("{code}: {m}")
            }
        })
        .unwrap_or_else(|| format!("{}", DisplayErrorContext(&error)));
    match &error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            return AwsError::Unreachable { action, message }
        }
        _ => {}
    }
    if code.contains("AccessDenied")
        || code.contains("UnauthorizedOperation")
        || code == "AccessDeniedException"
    {
        AwsError::AccessDenied { action, message }
    } else if code.contains("LimitExceeded") || code.contains("Quota") || code.contains("TooMany") {
        AwsError::Quota { action, message }
    } else {
        AwsError::Other { action, message }
    }
}

/// The error code, for "not found" checks that are not failures.
pub fn code_of<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
    error.code().unwrap_or_default().to_string()
}
