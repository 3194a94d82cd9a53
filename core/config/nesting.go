package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxNesting is how deeply an expression may nest. HCL's parser and
// evaluator recurse once per level, so a file nesting without bound (say
// 100,000 parentheses) would exhaust the stack and kill the process; such
// input is refused with a diagnostic before it is parsed.
//
// Every bracket, brace, parenthesis, quoted string, heredoc, template
// sequence (${…}, %{…}) and template directive (%{if}, %{for}) still open
// counts one level; so does every operator, attribute access (.name) and
// index ([…]) applied in a chain since the last comma or, in a body or
// object, the last line break: `a + b + c` is two levels deep, `[x, y]`
// one. In HCL's JSON syntax every open array or object counts one level,
// and every string is checked as the template HCL reads it as.
const MaxNesting = 100

// MaxExponent bounds the decimal exponent of a number in a configuration,
// written as d.ddd×10^e: a number other than zero must have |e| ≤
// MaxExponent, that is lie from 1e-1000 to below 1e1001 in magnitude.
// Writing out a number like 1e100000000 in full, as a template or the JSON
// of a node does, would take minutes and hundreds of megabytes.
const MaxExponent = 1000

// MaxFileSize bounds the size of one configuration file, so that a huge
// file in a configuration directory costs a diagnostic, not the process's
// memory.
const MaxFileSize = 1 << 20

// nestingDiagnostic reports input nesting deeper than MaxNesting at rng.
func nestingDiagnostic(rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Nesting too deep",
		Detail: fmt.Sprintf("The expression nests more than %d levels deep here (brackets, braces, parentheses, strings and templates, or operators and indexes in a chain); zpipe refuses it rather than risk running out of stack.",
			MaxNesting),
		Subject: rng.Ptr(),
	}
}

// checkNativeNesting checks the native syntax source of a whole file.
func checkNativeNesting(src []byte, filename string) hcl.Diagnostics {
	tokens, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	return checkTokenNesting(tokens)
}

// checkExpressionNesting checks the source of a single native syntax
// expression, as given to a typed variable or written in a JSON string
// that HCL reads as an expression.
func checkExpressionNesting(src []byte, filename string, start hcl.Pos) hcl.Diagnostics {
	tokens, _ := hclsyntax.LexExpression(src, filename, start)
	return checkTokenNesting(tokens)
}

// nestFrame is one open bracket-like construct during a token scan.
type nestFrame struct {
	open hclsyntax.TokenType
	// chain counts operators, attribute accesses and indexes applied in
	// sequence at this level since the last separator.
	chain int
	// lines is set where a line break ends an item: at the top level, in
	// block bodies and in object constructors (not for expressions).
	lines bool
	// first is set until the frame has seen a token other than a line
	// break or a comment, to tell an object constructor from a for
	// expression.
	first bool
	// directive is set on the control sequence %{if …} or %{for …},
	// which opens a directive level once the sequence ends; end is set on
	// %{endif} and %{endfor}, which close one.
	directive, end bool
}

// closer maps each opening token to the token that closes it.
var closer = map[hclsyntax.TokenType]hclsyntax.TokenType{
	hclsyntax.TokenOBrace:          hclsyntax.TokenCBrace,
	hclsyntax.TokenOBrack:          hclsyntax.TokenCBrack,
	hclsyntax.TokenOParen:          hclsyntax.TokenCParen,
	hclsyntax.TokenOQuote:          hclsyntax.TokenCQuote,
	hclsyntax.TokenOHeredoc:        hclsyntax.TokenCHeredoc,
	hclsyntax.TokenTemplateInterp:  hclsyntax.TokenTemplateSeqEnd,
	hclsyntax.TokenTemplateControl: hclsyntax.TokenTemplateSeqEnd,
}

// chainTokens are the tokens that may nest without brackets: unary and
// binary operators, the conditional's ? and :, and attribute access.
var chainTokens = map[hclsyntax.TokenType]bool{
	hclsyntax.TokenPlus: true, hclsyntax.TokenMinus: true, hclsyntax.TokenStar: true,
	hclsyntax.TokenSlash: true, hclsyntax.TokenPercent: true,
	hclsyntax.TokenEqualOp: true, hclsyntax.TokenNotEqual: true,
	hclsyntax.TokenLessThan: true, hclsyntax.TokenLessThanEq: true,
	hclsyntax.TokenGreaterThan: true, hclsyntax.TokenGreaterThanEq: true,
	hclsyntax.TokenAnd: true, hclsyntax.TokenOr: true, hclsyntax.TokenBang: true,
	hclsyntax.TokenQuestion: true, hclsyntax.TokenColon: true,
	hclsyntax.TokenDot: true, hclsyntax.TokenDoubleColon: true,
}

// endsTerm reports whether tok can end an operand, so that a bracket
// after it is an index rather than a tuple.
func endsTerm(tok hclsyntax.Token) bool {
	switch tok.Type {
	case hclsyntax.TokenIdent:
		switch string(tok.Bytes) {
		case "in", "if": // keywords of for expressions
			return false
		}
		return true
	case hclsyntax.TokenNumberLit, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCBrace,
		hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc, hclsyntax.TokenStar:
		return true
	}
	return false
}

// lineBreak reports whether tok ends a line: a line break, or a comment
// running to the end of its line, which holds the line break.
func lineBreak(tok hclsyntax.Token) bool {
	return tok.Type == hclsyntax.TokenNewline ||
		(tok.Type == hclsyntax.TokenComment && bytes.HasSuffix(tok.Bytes, []byte("\n")))
}

// directiveFrame marks a template directive level (%{if}…%{endif}) on the
// stack; it is no token HCL produces.
const directiveFrame hclsyntax.TokenType = 0

// checkTokenNesting scans tokens for nesting deeper than MaxNesting. The
// depth it computes is an upper bound of the depth HCL's parser and
// evaluator recurse to: a closing token that does not match the innermost
// open one is ignored, which can only overestimate.
func checkTokenNesting(tokens hclsyntax.Tokens) hcl.Diagnostics {
	stack := []nestFrame{{lines: true}}
	depth := 0 // open frames beyond the top level, plus every frame's chain
	push := func(f nestFrame) {
		stack = append(stack, f)
		depth++
	}
	pop := func() nestFrame {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		depth -= 1 + f.chain
		return f
	}
	var prev hclsyntax.Token // the last token that is not a line break or comment
	for _, tok := range tokens {
		top := &stack[len(stack)-1]
		first := top.first
		before := prev
		if tok.Type != hclsyntax.TokenNewline && tok.Type != hclsyntax.TokenComment {
			top.first = false
			prev = tok
		}
		switch {
		case tok.Type == hclsyntax.TokenIdent && first && top.open == hclsyntax.TokenOBrace && string(tok.Bytes) == "for":
			top.lines = false // a for expression ignores line breaks
		case tok.Type == hclsyntax.TokenIdent && first && top.open == hclsyntax.TokenTemplateControl:
			switch string(tok.Bytes) {
			case "if", "for":
				top.directive = true
			case "endif", "endfor":
				top.end = true
			}
		case closer[tok.Type] != 0:
			if tok.Type == hclsyntax.TokenOBrack && endsTerm(before) {
				// An index: x[i][j]… nests like an operator chain.
				top.chain++
				depth++
			}
			f := nestFrame{open: tok.Type, first: true}
			if tok.Type == hclsyntax.TokenOBrace {
				f.lines = true
			}
			push(f)
		case len(stack) > 1 && closer[top.open] != 0 && tok.Type == closer[top.open]:
			f := pop()
			switch {
			case f.directive:
				push(nestFrame{open: directiveFrame})
			case f.end && stack[len(stack)-1].open == directiveFrame:
				pop()
			}
		case tok.Type == hclsyntax.TokenNumberLit && !numberInRange(string(tok.Bytes)):
			return hcl.Diagnostics{numberDiagnostic(tok.Range)}
		case chainTokens[tok.Type]:
			top.chain++
			depth++
		case tok.Type == hclsyntax.TokenComma || (lineBreak(tok) && top.lines):
			depth -= top.chain
			top.chain = 0
		}
		if depth > MaxNesting {
			return hcl.Diagnostics{nestingDiagnostic(tok.Range)}
		}
	}
	return nil
}

// numberDiagnostic reports a number out of range at rng.
func numberDiagnostic(rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Number out of range",
		Detail:   fmt.Sprintf("A number in a configuration must be zero or lie from 1e-%d to below 1e%d in magnitude.", MaxExponent, MaxExponent+1),
		Subject:  rng.Ptr(),
	}
}

// numberInRange reports whether the decimal number lit (digits, an
// optional fraction and exponent, as HCL and JSON write them) is zero or
// has a decimal exponent within ±MaxExponent.
func numberInRange(lit string) bool {
	lit = strings.TrimLeft(lit, "+-")
	mantissa, exp := lit, 0
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		mantissa = lit[:i]
		e, err := strconv.Atoi(lit[i+1:])
		if err != nil {
			return false // not a number HCL reads, or an exponent beyond int
		}
		exp = e
	}
	whole, frac, _ := strings.Cut(mantissa, ".")
	whole = strings.TrimLeft(whole, "0")
	switch {
	case whole != "":
		exp += len(whole) - 1
	case strings.Trim(frac, "0") == "":
		return true // zero
	default:
		exp -= len(frac) - len(strings.TrimLeft(frac, "0")) + 1
	}
	return exp >= -MaxExponent && exp <= MaxExponent
}

// floatInRange is numberInRange, roughly (to a power of two), for a
// computed number: a string converted to one, say.
func floatInRange(f *big.Float) bool {
	if f.IsInf() {
		return false
	}
	if f.Sign() == 0 {
		return true
	}
	limit := int(MaxExponent*math.Log2(10)) + 1 // in powers of two
	exp := f.MantExp(nil)
	return exp >= -limit && exp <= limit
}

// checkJSONNesting checks a JSON syntax file: arrays and objects may nest
// MaxNesting deep, and every string, which HCL may read as a template, is
// checked as one.
func checkJSONNesting(src []byte, filename string) hcl.Diagnostics {
	pos := hcl.InitialPos
	depth := 0
	for i := 0; i < len(src); {
		c := src[i]
		switch c {
		case '[', '{':
			depth++
			if depth > MaxNesting {
				return hcl.Diagnostics{nestingDiagnostic(hcl.Range{Filename: filename, Start: pos, End: advance(pos, src[i:i+1])})}
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			end := i + 1
			for end < len(src) && strings.IndexByte("+-.eE0123456789", src[end]) >= 0 {
				end++
			}
			if !numberInRange(string(src[i:end])) {
				return hcl.Diagnostics{numberDiagnostic(hcl.Range{Filename: filename, Start: pos, End: advance(pos, src[i:end])})}
			}
			pos = advance(pos, src[i:end])
			i = end
			continue
		case '"':
			end := jsonStringEnd(src, i)
			if diags := checkJSONString(src[i:end], filename, pos); diags.HasErrors() {
				return diags
			}
			pos = advance(pos, src[i:end])
			i = end
			continue
		}
		pos = advance(pos, src[i:i+1])
		i++
	}
	return nil
}

// jsonStringEnd returns the index just after the JSON string starting at
// src[start] (a quote), or len(src) if it is not closed.
func jsonStringEnd(src []byte, start int) int {
	for i := start + 1; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(src)
}

// checkJSONString checks the content of one JSON string literal (quotes
// included) as the template HCL's JSON syntax reads it as.
func checkJSONString(lit []byte, filename string, pos hcl.Pos) hcl.Diagnostics {
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return nil // not a valid string: the JSON parser reports it
	}
	start := advance(pos, lit[:1])
	tokens, _ := hclsyntax.LexTemplate([]byte(s), filename, start)
	return checkTokenNesting(tokens)
}

// advance moves pos over b.
func advance(pos hcl.Pos, b []byte) hcl.Pos {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		pos.Byte += n
		if r == '\n' {
			pos.Line++
			pos.Column = 1
		} else {
			pos.Column++
		}
	}
	return pos
}
