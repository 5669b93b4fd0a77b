//! The password for a new key: from `COSIGN_PASSWORD` (as cosign reads it),
//! else typed twice on the terminal with echo off. Without either the key is
//! not written: an unencrypted or guessed-empty key is never made silently.

use crate::error::Error;
use crate::signing::keys::PASSWORD_VARIABLE;
use secrecy::{ExposeSecret, SecretString};
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::{Command, Stdio};

/// Where the password came from, so the command can say so.
pub enum Origin {
    Variable,
    Terminal,
}

/// The password for a new key, and where it came from.
pub fn new_key_password() -> Result<(SecretString, Origin), Error> {
    match std::env::var(PASSWORD_VARIABLE) {
        Ok(value) => return Ok((SecretString::from(value), Origin::Variable)),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(Error::SigningKeyPassword(
                crate::signing::KeyError::PasswordNotUnicode,
            ));
        }
        Err(std::env::VarError::NotPresent) => {}
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::NoPasswordSource);
    }
    let first = prompt("Enter password for private key: ")?;
    let second = prompt("Enter password for private key again: ")?;
    if first.expose_secret() != second.expose_secret() {
        return Err(Error::PasswordsDiffer);
    }
    Ok((first, Origin::Terminal))
}

/// Reads one line from the terminal with echo off (`stty -echo`, restored
/// afterwards whatever happened).
fn prompt(question: &str) -> Result<SecretString, Error> {
    let tty = File::options()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(Error::Prompt)?;
    (&tty)
        .write_all(question.as_bytes())
        .and_then(|()| (&tty).flush())
        .map_err(Error::Prompt)?;
    stty(&tty, "-echo")?;
    let mut line = String::new();
    let read = BufReader::new(&tty).read_line(&mut line);
    let restored = stty(&tty, "echo");
    let _ = (&tty).write_all(b"\n");
    read.map_err(Error::Prompt)?;
    restored?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    line.clear();
    Ok(SecretString::from(password))
}

fn stty(tty: &File, setting: &str) -> Result<(), Error> {
    let status = Command::new("stty")
        .arg(setting)
        .stdin(Stdio::from(tty.try_clone().map_err(Error::Prompt)?))
        .status()
        .map_err(Error::Prompt)?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Prompt(std::io::Error::other(format!(
            "`stty {setting}` failed ({status})"
        ))))
    }
}
