// PromQL as Prometheus' own editor grammar (@prometheus-io/lezer-promql) sees it: syntax errors,
// and the series selectors an expression reads, so tests can check names and label filters.
import { parser } from '@prometheus-io/lezer-promql';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

export interface Selector {
  /** The metric name, or undefined for a `{__name__=...}`-only selector. */
  metric: string | undefined;
  /** label name → matcher text, e.g. instance → `=~"$node"` */
  matchers: Map<string, string>;
}

export interface ParsedQuery {
  /** Human-readable error positions; empty when the expression parses cleanly. */
  errors: string[];
  selectors: Selector[];
}

function text(source: string, node: SyntaxNode): string {
  return source.slice(node.from, node.to);
}

function unquote(literal: string): string {
  return literal.length >= 2 ? literal.slice(1, -1) : literal;
}

function selectorOf(source: string, node: SyntaxNode): Selector {
  const matchers = new Map<string, string>();
  let metric: string | undefined;
  const nameNode = node.getChild('Identifier');
  if (nameNode) metric = text(source, nameNode);
  const list = node.getChild('LabelMatchers');
  for (const matcher of list
    ? [...list.getChildren('UnquotedLabelMatcher'), ...list.getChildren('QuotedLabelMatcher')]
    : []) {
    const bare = matcher.getChild('LabelName');
    const quoted = matcher.getChild('QuotedLabelName');
    const op = matcher.getChild('MatchOp');
    const value = matcher.getChild('StringLiteral');
    if (!(bare || quoted) || !op || !value) continue;
    const name = bare ? text(source, bare) : unquote(text(source, quoted as SyntaxNode));
    matchers.set(name, `${text(source, op)}${text(source, value)}`);
    if (name === '__name__' && text(source, op) === '=') metric = unquote(text(source, value));
  }
  return { metric, matchers };
}

export function parsePromQL(expr: string): ParsedQuery {
  const tree = parser.parse(expr);
  const errors: string[] = [];
  const selectors: Selector[] = [];
  tree.iterate({
    enter(ref) {
      if (ref.type.isError) {
        errors.push(
          `syntax error at ${ref.from}: …${expr.slice(Math.max(0, ref.from - 20), ref.from + 20)}…`,
        );
      } else if (ref.name === 'VectorSelector') {
        selectors.push(selectorOf(expr, ref.node));
      }
    },
  });
  return { errors, selectors };
}

/** Grafana's variables in dashboard queries, and the values the tests put in their place. */
export interface GrafanaValues {
  rateInterval: string;
  job: string;
  node: string;
}

const GRAFANA_VARIABLE = /\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))/g;

/** Every `$var`/`${var}` a Grafana query uses. */
export function grafanaVariables(expr: string): string[] {
  return [...expr.matchAll(GRAFANA_VARIABLE)].map((match) => match[1] ?? match[2] ?? '');
}

/** The PromQL Grafana would send: `$__rate_interval` and the template variables substituted. */
export function substituteGrafana(expr: string, values: GrafanaValues): string {
  return expr.replace(GRAFANA_VARIABLE, (whole, braced: string | undefined, bare: string | undefined) => {
    switch (braced ?? bare) {
      case '__rate_interval':
        return values.rateInterval;
      case 'job':
        return values.job;
      case 'node':
        return values.node;
      default:
        throw new Error(`unknown Grafana variable ${whole} in: ${expr}`);
    }
  });
}
