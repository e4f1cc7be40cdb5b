//! The errors under a row's error (serde_json's, apache-avro's, the Schema Registry's, a
//! number's parse error), kept whole so that the processing log can list them in `cause`
//! as ksqlDB does: its records hold the messages of the exception's cause chain
//! (ErrorMessageUtil.getErrorMessages).

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// An error from below the engine, kept as the `#[source]` of the engine's own error.
///
/// Shared behind an `Arc` because the errors that hold it are `Clone` (rejected rows are
/// sorted and moved, dead letters cloned) and serde_json's and apache-avro's errors are
/// not; it is made only when a record fails, never on the path of a good one. The box
/// makes it one pointer wide, so that the decode and evaluation results every record
/// returns grow by no more than that.
#[derive(Clone)]
pub struct Cause(Arc<Box<dyn Error + Send + Sync + 'static>>);

impl Cause {
    pub fn new(error: impl Error + Send + Sync + 'static) -> Cause {
        Cause(Arc::new(Box::new(error)))
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self.0, f)
    }
}

impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// The errors that hold a cause compare as values in tests; the foreign errors have no
/// equality of their own, so two causes are equal when they say the same.
impl PartialEq for Cause {
    fn eq(&self, other: &Cause) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

/// The messages of `error`'s chain from `error` down, as ksqlDB's
/// ErrorMessageUtil.getErrorMessages lists a throwable's: each error once, in order.
pub fn messages(error: Option<&(dyn Error + 'static)>) -> Vec<String> {
    std::iter::successors(error, |&e| e.source())
        .map(ToString::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Cause);

    /// A kept error's own sources stay reachable through it: apache-avro's read errors
    /// hold the io error that ended the body.
    #[test]
    fn the_chain_goes_through_a_kept_error() {
        let io = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "failed to fill");
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read: {0}")]
        struct Read(#[source] std::io::Error);
        let outer = Outer(Cause::new(Read(io)));
        assert_eq!(
            messages(Some(&outer)),
            ["outer", "cannot read: failed to fill", "failed to fill"]
        );
        assert_eq!(messages(outer.source()).len(), 2);
        assert!(messages(None).is_empty());
    }

    /// Every row's evaluation returns a result: keeping a failure's cause must not widen it.
    #[test]
    fn a_kept_cause_does_not_widen_the_results_of_good_rows() {
        use std::mem::size_of;
        assert_eq!(size_of::<Option<Cause>>(), size_of::<usize>());
        assert_eq!(
            size_of::<Result<crate::value::Value, crate::expr::EvalError>>(),
            size_of::<crate::value::Value>()
        );
    }

    #[test]
    fn causes_that_say_the_same_are_equal() {
        let parse = |s: &str| Cause::new(s.parse::<i64>().unwrap_err());
        assert_eq!(parse("x"), parse("y"));
        assert_ne!(parse("x"), parse(""));
    }
}
