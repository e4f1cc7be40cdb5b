//! Interactive answers: one question at a time, in the tree's own wording.

use std::io::{BufRead, Write};

use super::{Asker, DecideError, Question};
use crate::workload::Latency;

/// Asks on `output` and reads answers from `input`; a bad answer is asked again.
pub struct Prompter<R, W> {
    input: R,
    output: W,
}

const MAX_TRIES: usize = 5;

impl<R: BufRead, W: Write> Prompter<R, W> {
    pub fn new(input: R, output: W) -> Self {
        Prompter { input, output }
    }

    fn ask<T>(
        &mut self,
        question: Question,
        hint: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, DecideError> {
        let io_error = |e: std::io::Error| DecideError::Prompt {
            question: question.text(),
            reason: e.to_string(),
        };
        for _ in 0..MAX_TRIES {
            write!(self.output, "{} {hint} ", question.text()).map_err(io_error)?;
            self.output.flush().map_err(io_error)?;
            let mut line = String::new();
            if self.input.read_line(&mut line).map_err(io_error)? == 0 {
                return Err(DecideError::Prompt {
                    question: question.text(),
                    reason: format!(
                        "input ended before an answer; give it with {}",
                        question.flag()
                    ),
                });
            }
            match parse(line.trim()) {
                Ok(value) => return Ok(Some(value)),
                Err(message) => writeln!(self.output, "  {message}").map_err(io_error)?,
            }
        }
        Err(DecideError::Prompt {
            question: question.text(),
            reason: format!("no valid answer after {MAX_TRIES} tries"),
        })
    }
}

fn parse_yes_no(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(true),
        "n" | "no" => Ok(false),
        other => Err(format!("please answer yes or no (got {other:?})")),
    }
}

impl<R: BufRead, W: Write> Asker for Prompter<R, W> {
    fn latency(&mut self, question: Question) -> Result<Option<Latency>, DecideError> {
        self.ask(
            question,
            "What latency do the results need (e.g. 500ms, 2s, 15m, 1h)?",
            |text| text.parse::<Latency>(),
        )
    }

    fn yes_no(&mut self, question: Question) -> Result<Option<bool>, DecideError> {
        self.ask(question, "[y/n]", parse_yes_no)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasks_until_the_answer_is_valid() {
        let mut output = Vec::new();
        let mut prompter = Prompter::new(&b"maybe\nYES\n"[..], &mut output);
        assert_eq!(prompter.yes_no(Question::Stateless).unwrap(), Some(true));
        let shown = String::from_utf8(output).unwrap();
        assert_eq!(shown.matches(Question::Stateless.text()).count(), 2);
        assert!(shown.contains("please answer yes or no"));
    }

    #[test]
    fn end_of_input_is_an_error_naming_the_flag() {
        let mut prompter = Prompter::new(&b""[..], Vec::new());
        let err = prompter
            .latency(Question::WithinSeconds)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--latency"), "{err}");
    }
}
