//! The commands' human tables: columns padded to their widest cell, the
//! last one left free to run on.

use std::fmt::Write as _;

/// `header` and `rows` as aligned text, one line each.
pub fn render<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let widths: [usize; N] = std::array::from_fn(|i| {
        rows.iter()
            .map(|row| row[i].chars().count())
            .chain([header[i].chars().count()])
            .max()
            .unwrap_or(0)
    });
    let mut out = String::new();
    let mut line = |cells: [&str; N]| {
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                let _ = writeln!(out, "{cell}");
            } else {
                let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
            }
        }
    };
    line(header);
    for row in rows {
        line(std::array::from_fn(|i| row[i].as_str()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn columns_are_padded_to_their_widest_cell_but_the_last() {
        let rows = [["a".to_string(), "long cell".to_string(), "free".to_string()]];
        assert_eq!(
            render(["ID", "NAME", "REST"], &rows),
            "ID  NAME       REST\na   long cell  free\n"
        );
    }
}
