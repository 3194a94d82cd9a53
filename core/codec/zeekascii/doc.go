// Package zeekascii renders Zeek log batches in the format of Zeek's ASCII
// log writer (Log::WRITER_ASCII with its defaults: LogAscii::use_json = F,
// enable_utf_8 = T, tab separator, "," set separator, "(empty)" and "-"):
// a header of "#" lines, one tab-separated line per record, and a "#close"
// footer.
//
//	#separator \x09
//	#set_separator	,
//	#empty_field	(empty)
//	#unset_field	-
//	#path	conn
//	#open	2026-11-22-04-26-37
//	#fields	ts	uid	…
//	#types	time	string	…
//	1210953047.736921	CU3WRi4faFPjW8yuPb	…
//	#close	2026-11-22-04-26-39
//
// The output matches what Zeek 9.1's logger wrote for the captured batches
// byte for byte (the #open and #close times aside). Where the captures do
// not reach, the rules below are Zeek's as read in its source
// (src/threading/formatters/Ascii.cc, src/logging/writers/ascii/Ascii.cc,
// src/Desc.cc, src/util.cc, src/modp_numtoa.c) and its btest baselines
// (scripts.base.frameworks.logging.ascii-double, ascii-timestamps,
// ascii-utf8-enabled, ascii-utf8-enabled-control-characters,
// ascii-escape-binary).
//
// # Values
//
//   - unset: "-"; bool: T or F; int and count: decimal; port: the number
//     alone.
//   - time and interval: six decimals ("1700000000.250000", "-2.500000"),
//     as modp_dtoa(d, 6) prints them; from 2147483647 up, "%.16e" with the
//     trailing zeros of the mantissa removed ("3.1e+09"), as Zeek does.
//   - double: at most six decimals with trailing zeros removed and ".0" on
//     values within 1e-9 of a whole number ("1.5", "-0.5", "60.0",
//     "0.000012"); from 2147483647 up every digit ("3140000000000000.0");
//     "nan", "inf", "-inf". As modp_dtoa3 and ODesc do: negative zero
//     prints "0.0", -2.23e-308 "-0.0", and a value that rounds to a whole
//     number without being within 1e-9 of it has no ".0" (4e-7 prints "0",
//     1.9999999 prints "2").
//   - addr: dotted IPv4; IPv6 in RFC 5952 form except that an address whose
//     first 96 bits are zero ends in dotted form (::1.2.3.4), as inet_ntop;
//     subnet: address "/" prefix length.
//   - set and vector: "(empty)" when empty, else the elements joined by ","
//     (sets in the order held, which is Zeek's wire order); a vector hole
//     is "-".
//   - string, enum, file and func: "(empty)" for the empty string; escaped
//     as below otherwise.
//
// # Escaping
//
// A string value is written as is, except:
//
//   - a backslash becomes "\\" (two backslashes);
//   - the separator (tab) becomes \x09, and inside a set or vector the set
//     separator "," becomes \x2c;
//   - the rest is cut at those points into runs, and a run that is not
//     clean UTF-8 is written with every byte outside printable ASCII
//     (0x20-0x7e) as \xNN (lowercase hex). A run is clean if it holds only
//     printable ASCII and valid UTF-8 sequences of code points other than
//     C0 and C1 controls, DEL, the private use area U+E000-U+F8FF and
//     U+FFF0-U+FFFF. So "foo ® bar" stays as is, "AB\xffCD" becomes
//     "AB\xffCD" and "é\n" becomes "\xc3\xa9\x0a": one bad byte escapes
//     the whole run, as Zeek's escape_utf8 does;
//   - a value equal to "-" or "(empty)", which would read back as unset or
//     empty, has its first byte escaped: "\x2d", "\x28empty)";
//   - a line that would start with "#" (the meta prefix) starts with \x23
//     instead.
//
// In the header, the path is written with whitespace and bytes outside
// printable ASCII as \xNN; field names are written as they are. #types
// holds Zeek's type names, with set[T] and vector[T] for containers.
//
// Two rules rest on Zeek sources older than 9.1, as the 9.1 ones were not
// at hand: the clean-run rule is that of json_escape_utf8 (Zeek 4.2-8),
// which 9.x calls escape_utf8 with flags, and the number forms are those
// of modp_numtoa.c, which 9.x's util::double_to_str replaces. The recent
// btest baselines above agree with both; times from 2038 on (the %.16e
// form) are covered by none of them.
//
// # Times of #open and #close
//
// Zeek prints them with strftime("%Y-%m-%d-%H-%M-%S") in the local time of
// its process. AppendHeader and AppendClose take a time.Time and print it
// in that time's location (TimestampLayout), so callers choose: time.Now()
// for Zeek's behaviour, a UTC time for reproducible output.
//
// # Not covered
//
// Only Zeek's default ASCII settings are rendered: no custom separators,
// no enable_utf_8 = F (in which every byte outside printable ASCII is
// escaped, including valid UTF-8), no tsv = T single-line header, no gzip.
package zeekascii
