use super::*;

#[test]
fn parses() {
    Expectations::parse("t", "appear /x/\n").unwrap();
}
