// Lints Cypher statements with Neo4j's own language support
// (@neo4j-cypher/language-support, lintCypherQuery), offline.
// Input (file named on the command line): JSON [{name, cypher, parameters: [names]}].
// Output: JSON [{name, diagnostics: [{severity, message, line, character}]}].
import { readFileSync } from 'node:fs';
import { lintCypherQuery } from '@neo4j-cypher/language-support';

const statements = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const results = statements.map(({ name, cypher, parameters }) => {
  const declared = Object.fromEntries(parameters.map((p) => [p, null]));
  const { diagnostics } = lintCypherQuery(cypher, { parameters: declared });
  return {
    name,
    diagnostics: diagnostics.map((d) => ({
      severity: d.severity,
      message: d.message,
      line: d.range.start.line + 1,
      character: d.range.start.character + 1,
    })),
  };
});
process.stdout.write(JSON.stringify(results));
