//! Every bad CSV shape gets its own clear error, located by file, line and column; none
//! panics; the input is left as it was.

use model::*;

fn opts(target: &str) -> CsvOptions {
    CsvOptions::new(target)
}

fn err(bytes: &[u8], o: &CsvOptions) -> String {
    let before = bytes.to_vec();
    let e = parse_csv(bytes, "t.csv", o).unwrap_err().to_string();
    assert_eq!(bytes, &before[..], "input unchanged");
    e
}

#[test]
fn each_bad_shape_has_its_own_message() {
    assert_eq!(err(b"", &opts("y")), "t.csv: the file is empty");
    assert_eq!(
        err(b"x,y\n", &opts("y")),
        "t.csv: the file has a header but no data rows"
    );
    assert_eq!(
        err(b"x,y\n1,2\n3\n", &opts("y")),
        "t.csv:3: row has 1 fields, but the first row has 2"
    );
    assert_eq!(
        err(b"x,y\n1,2\n3,abc\n", &opts("y")),
        "t.csv:3:2: column 'y': 'abc' is not a number"
    );
    assert_eq!(
        err(b"x,y\n1,2\n", &opts("z")),
        "t.csv: no column 'z'; the columns are: x, y"
    );
    assert_eq!(
        err(b"x,y\n1,2\n", &CsvOptions::new(Column::Index(5))),
        "t.csv: no column #5 (there are 2); the columns are: x, y"
    );
    assert_eq!(
        err(b"x,y\n1,2\n,4\n", &opts("y")),
        "t.csv:3:1: column 'x': missing value (choose a policy: drop, ffill or mean)"
    );
    assert_eq!(
        err(b"x,y\n1,inf\n", &opts("y")),
        "t.csv:2:2: column 'y': 'inf' is infinite"
    );
    assert_eq!(
        err(b"x,y\n1,-Infinity\n", &opts("y")),
        "t.csv:2:2: column 'y': '-Infinity' is infinite"
    );
    let ffill = CsvOptions {
        missing: Missing::ForwardFill,
        ..opts("y")
    };
    assert_eq!(
        err(b"x,y\nNA,2\n3,4\n", &ffill),
        "t.csv:2:1: column 'x': missing value in the first row, nothing to fill forward from"
    );
    let drop = CsvOptions {
        missing: Missing::Drop,
        ..opts("y")
    };
    assert_eq!(
        err(b"x,y\n,2\n3,\n", &drop),
        "t.csv: no rows are left after dropping rows with missing values"
    );
    let e = err(b"x,y\n1,\xff\n", &opts("y"));
    assert!(e.starts_with("t.csv:2: ") && e.contains("UTF-8"), "{e}");
    let e = load_csv("/nonexistent/descent.csv", &opts("y"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/nonexistent/descent.csv: cannot read:"),
        "{e}"
    );
}

#[test]
fn headers_line_ends_and_column_choice() {
    // A first row of numbers is data.
    let d = parse_csv(b"1,2\n3,4\n", "t.csv", &CsvOptions::new(Column::Index(1))).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d.features, vec!["column 0"]);
    // Overridden: the same first row as a header.
    let o = CsvOptions {
        header: Some(true),
        ..CsvOptions::new(Column::Name("2".into()))
    };
    assert_eq!(parse_csv(b"1,2\n3,4\n", "t.csv", &o).unwrap().len(), 1);
    // CRLF, unused non-numeric columns, features by name in the order given.
    let o = CsvOptions {
        features: Some(vec!["b".into(), "a".into()]),
        ..CsvOptions::new("y")
    };
    let d = parse_csv(
        b"date,a,b,y\r\n1970-01-01,1,2,3\r\n1970-01-02,4,5,6\r\n",
        "t.csv",
        &o,
    )
    .unwrap();
    assert_eq!(d.x.to_vec(), vec![2.0, 1.0, 5.0, 4.0]);
    assert_eq!(d.y.to_vec(), vec![3.0, 6.0]);
    assert_eq!(d.target, "y");
}

#[test]
fn missing_value_policies() {
    let csv = b"x,y\n1,10\n,20\n3,\n5,50\n";
    let with = |m| {
        parse_csv(
            csv,
            "t.csv",
            &CsvOptions {
                missing: m,
                ..CsvOptions::new("y")
            },
        )
        .unwrap()
    };
    let d = with(Missing::Drop);
    assert_eq!(
        (d.x.to_vec(), d.y.to_vec()),
        (vec![1.0, 5.0], vec![10.0, 50.0])
    );
    let d = with(Missing::ForwardFill);
    assert_eq!(
        (d.x.to_vec(), d.y.to_vec()),
        (vec![1.0, 1.0, 3.0, 5.0], vec![10.0, 20.0, 20.0, 50.0])
    );
    let d = with(Missing::Mean);
    assert_eq!(
        (d.x.to_vec(), d.y.to_vec()),
        (vec![1.0, 3.0, 3.0, 5.0], vec![10.0, 20.0, 80.0 / 3.0, 50.0])
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Random bytes: an error or a dataset, never a panic.
        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_csv(&bytes, "fuzz.csv", &CsvOptions::new("y"));
            let _ = parse_csv(&bytes, "fuzz.csv", &CsvOptions { missing: Missing::ForwardFill, ..CsvOptions::new(Column::Index(0)) });
            let _ = parse_csv(&bytes, "fuzz.csv", &CsvOptions { categorical: true, missing: Missing::Mean, ..CsvOptions::new(Column::Index(0)) });
            let cat = Categorical { column: "x".into(), levels: vec!["a".into(), "b".into()], reference: "a".into() };
            let _ = encode_columns(&bytes[..], "fuzz.csv", &["x".into()], &[cat], Missing::Drop);
        }

        /// Mutations of a valid file: an error or a dataset, never a panic.
        #[test]
        fn mutated_files_never_panic(pos in 0usize..40, byte in prop::sample::select(b",\n\r\"x.-e9 ".to_vec()), cut in 0usize..41) {
            let mut good = b"x,y\n1,2.5\n-3,4e2\n5,6\n7,8\n".to_vec();
            let pos = pos % good.len();
            good[pos] = byte;
            good.truncate(cut.min(good.len()));
            let _ = parse_csv(&good, "fuzz.csv", &CsvOptions::new("y"));
            let _ = parse_csv(&good, "fuzz.csv", &CsvOptions { categorical: true, ..CsvOptions::new("y") });
        }
    }
}

#[test]
fn large_files_parse_on_every_core_to_the_same_values_and_first_error() {
    // 20,000 rows: several batches parsed in parallel. Every value is exact in binary.
    let mut text = String::from("x,c,y\n");
    for i in 0..20_000 {
        let c = if i >= 15_000 { "late" } else { "7" };
        if i == 12_345 {
            text += &format!("NA,{c},{}\n", 2 * i);
        } else {
            text += &format!("{},{c},{}\n", i as f64 * 0.25, 2 * i);
        }
    }
    let opts = CsvOptions {
        missing: Missing::Drop,
        categorical: true,
        ..CsvOptions::new("y")
    };
    let d = parse_csv(text.as_bytes(), "big.csv", &opts).unwrap();
    assert_eq!(d.len(), 19_999);
    assert_eq!(d.features, ["x", "c[T.late]"]);
    let xs: f64 = (0..d.len()).map(|i| d.row(i)[0]).sum();
    let want: f64 = (0..20_000)
        .filter(|&i| i != 12_345)
        .map(|i| i as f64 * 0.25)
        .sum();
    assert_eq!(xs, want);
    let late: f64 = (0..d.len()).map(|i| d.row(i)[1]).sum();
    assert_eq!(late, 5_000.0);
    // The first bad cell in file order is the one reported, whatever batch it is in.
    // Row 9,000 (the third batch) has a bad x, row 16,000 (the fourth) a bad y.
    let bad = text
        .replacen("\n2250,7,", "\noops,7,", 1)
        .replacen(",32000\n", ",zz\n", 1);
    let e = parse_csv(bad.as_bytes(), "big.csv", &CsvOptions::new("y")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "big.csv:9002:1: column 'x': 'oops' is not a number"
    );
    let bad = text.replacen(",32000\n", ",zz\n", 1);
    let drop = CsvOptions {
        missing: Missing::Drop,
        features: Some(vec!["x".into()]),
        ..CsvOptions::new("y")
    };
    let e = parse_csv(bad.as_bytes(), "big.csv", &drop).unwrap_err();
    assert_eq!(
        e.to_string(),
        "big.csv:16002:3: column 'y': 'zz' is not a number"
    );
}
