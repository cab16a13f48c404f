//! `help <command>` in Bitcoin Core's layout: the one-line usage, the description,
//! numbered `Arguments:`, `Result:` sections and `Examples:`, with the left column padded
//! as Core's `Sections` do. The texts live in `help.txt` (Core's wording where it
//! applies) so they read like the output they produce.

const TEXTS: &str = include_str!("help.txt");

/// Where `Examples:` curl lines point: the regtest RPC port, the only chain we run.
const EXAMPLE_URL: &str = "http://127.0.0.1:18443/";

/// The help entry for `name` in `help.txt`, without its `### name` line.
fn entry(name: &str) -> Option<&'static str> {
    entry_in(TEXTS, name)
}

/// The entry for `name` in a text of `### name` blocks.
fn entry_in(texts: &'static str, name: &str) -> Option<&'static str> {
    texts.split("### ").skip(1).find_map(|block| {
        let (head, body) = block.split_once('\n')?;
        (head.trim() == name).then_some(body)
    })
}

/// One row of a section: left column and (possibly multi-line) description.
struct Row {
    left: String,
    right: String,
}

/// Core's `Sections::ToString`: the left column padded to the widest plus four, and
/// continuation lines of a description indented to the same column.
fn render_rows(rows: &[Row]) -> String {
    let pad = rows.iter().map(|r| r.left.len()).max().unwrap_or(0) + 4;
    let mut out = String::new();
    for r in rows {
        if r.right.is_empty() {
            out.push_str(&r.left);
            out.push('\n');
            continue;
        }
        out.push_str(&format!("{:pad$}", r.left));
        out.push_str(&r.right.replace('\n', &format!("\n{}", " ".repeat(pad))));
        out.push('\n');
    }
    out
}

/// Parses `left|right` rows; a line starting with `|` continues the previous row's
/// description. Arguments (rows whose left starts unindented) are numbered.
fn parse_rows(lines: &[&str], number: bool) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut n = 0;
    for line in lines {
        if let Some(more) = line.strip_prefix('|') {
            if let Some(last) = rows.last_mut() {
                last.right.push('\n');
                last.right.push_str(more);
                continue;
            }
        }
        let (left, right) = line.rsplit_once('|').unwrap_or((line, ""));
        let left = if number && !left.starts_with(' ') {
            n += 1;
            format!("{n}. {left}")
        } else {
            left.to_string()
        };
        rows.push(Row {
            left,
            right: right.to_string(),
        });
    }
    rows
}

/// The full help text for a command whose one-line usage is `usage`, ending in a newline
/// as Core's `RPCHelpMan::ToString` does; `None` when there is no entry.
pub fn render(name: &str, usage: &str) -> Option<String> {
    render_body(name, usage, entry(name)?)
}

/// [`render`] for commands whose texts live elsewhere (the wallet's), in the same format.
pub fn render_from(texts: &'static str, name: &str, usage: &str) -> Option<String> {
    render_body(name, usage, entry_in(texts, name)?)
}

fn render_body(name: &str, usage: &str, body: &str) -> Option<String> {
    let mut description = Vec::new();
    let mut sections: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in body.lines() {
        if let Some(tag) = line.strip_prefix('@') {
            sections.push((tag, Vec::new()));
        } else if let Some((_, lines)) = sections.last_mut() {
            lines.push(line);
        } else {
            description.push(line);
        }
    }
    let mut out = format!("{usage}\n\n{}\n", description.join("\n").trim());
    for (tag, lines) in &sections {
        if *tag == "args" {
            out.push_str("\nArguments:\n");
            out.push_str(&render_rows(&parse_rows(lines, true)));
        } else if let Some(cond) = tag.strip_prefix("result") {
            let cond = cond.trim();
            if cond.is_empty() {
                out.push_str("\nResult:\n");
            } else {
                out.push_str(&format!("\nResult {cond}:\n"));
            }
            out.push_str(&render_rows(&parse_rows(lines, false)));
        } else if *tag == "examples" {
            out.push_str("\nExamples:\n");
            for line in lines {
                let (kind, args) = line.split_once('|').unwrap_or((line, ""));
                if kind == "cli" {
                    out.push_str(&format!("> hashvive-cli {name} {args}\n"));
                } else {
                    out.push_str(&format!(
                        "> curl --user myusername --data-binary '{{\"jsonrpc\": \"2.0\", \"id\": \"curltest\", \"method\": \"{name}\", \"params\": [{args}]}}' -H 'content-type: application/json' {EXAMPLE_URL}\n"
                    ));
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_an_entry() {
        use crate::rpc::{blockchain, control, mempool, mining, net, rawtx, sign, util};
        let all = [
            control::commands(),
            blockchain::commands(),
            mempool::commands(),
            mining::commands(),
            rawtx::commands(),
            sign::commands(),
            util::commands(),
            net::commands(),
        ];
        for cmd in all.iter().flatten() {
            let text = render(cmd.name, &cmd.usage()).unwrap_or_else(|| panic!("{}", cmd.name));
            assert!(
                text.contains("\n\nResult") || cmd.name.starts_with("echo"),
                "{}",
                cmd.name
            );
            // Arguments are listed exactly as the command takes them.
            for (i, p) in cmd.params.iter().enumerate() {
                let row = format!("\n{}. {} ", i + 1, p.trim_start_matches('*'));
                assert!(text.contains(&row), "{}: {row}", cmd.name);
            }
        }
    }

    #[test]
    fn getblockcount_matches_cores_layout() {
        assert_eq!(
            render("getblockcount", "getblockcount").unwrap(),
            "getblockcount\n\nReturns the height of the most-work fully-validated chain.\nThe genesis block has height 0.\n\nResult:\nn    (numeric) The current block count\n\nExamples:\n> hashvive-cli getblockcount \n> curl --user myusername --data-binary '{\"jsonrpc\": \"2.0\", \"id\": \"curltest\", \"method\": \"getblockcount\", \"params\": []}' -H 'content-type: application/json' http://127.0.0.1:18443/\n"
        );
    }

    #[test]
    fn arguments_are_numbered_and_padded() {
        let text = render("getblock", "getblock \"blockhash\" ( verbosity )").unwrap();
        assert!(text.contains(
            "\nArguments:\n1. blockhash            (string, required) The block hash\n2. verbosity|verbose    (numeric, optional, default=1)"
        ));
        assert!(text.contains("\nResult (for verbosity = 0):\n\"hex\"    (string)"));
        let text = render("getchaintips", "getchaintips").unwrap();
        // Continuation lines line up under the description column.
        let status = text
            .lines()
            .position(|l| l.contains("\"status\" : \"str\""))
            .unwrap();
        let next = text.lines().nth(status + 1).unwrap();
        let col = text.lines().nth(status).unwrap().find("(string)").unwrap();
        assert_eq!(next.find("Possible").unwrap(), col);
    }
}
