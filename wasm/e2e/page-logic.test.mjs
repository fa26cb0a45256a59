// The page's pure functions and the verdict collector, without a browser: the CSV the form
// writes, the dose / interval / cycles fields of regimen text, and verdicts.json.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildCsv, regimenParts, withRegimenParts } from '../web/patient.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

test('the form becomes the NONMEM rows of cli/tests/cli.rs, sample before dose at time 0', () => {
  const row = (name) => ({ name });
  const { csv, lineMap } = buildCsv(
    [{ name: 'AAG', value: 1.5 }, { name: 'BSA', value: 1.7 }],
    [{ row: row('dose'), time: 0, amount: 170, cmt: 1, duration: 1 }],
    [
      { row: row('late'), time: 96, value: 2.1, dvid: 1 },
      { row: row('baseline'), time: 0, value: 5.4, dvid: 1 },
    ],
  );
  // By hand: header, the baseline sample (line 2) before the dose at the same time (line 3;
  // 1-h infusion of 170 mg: RATE 170), then the 96-h sample (line 4).
  assert.equal(
    csv,
    'ID,TIME,DV,MDV,EVID,AMT,CMT,RATE,DVID,AAG,BSA\n' +
      '1,0,5.4,0,0,0,.,0,1,1.5,1.7\n' +
      '1,0,.,1,1,170,1,170,.,1.5,1.7\n' +
      '1,96,2.1,0,0,0,.,0,1,1.5,1.7\n',
  );
  assert.deepEqual([...lineMap].map(([line, r]) => [line, r.name]), [[2, 'baseline'], [3, 'dose'], [4, 'late']]);
  // Neither doses nor observations: one EVID 2 record carries the covariates.
  assert.equal(buildCsv([{ name: 'WT', value: 70 }], [], []).csv, 'ID,TIME,DV,MDV,EVID,AMT,CMT,RATE,DVID,WT\n1,0,.,1,2,0,.,0,.,70\n');
});

test('dose, interval and cycles of regimen text can be read and replaced', () => {
  const parts = regimenParts('75 mg/m2 iv over 1h q3w x6');
  assert.deepEqual([parts.dose, parts.unit, parts.every, parts.cycles], ['75', 'mg/m2', '3w', '6']);
  assert.equal(withRegimenParts('75 mg/m2 iv over 1h q3w x6', { dose: '60', every: '2w', cycles: '4' }), '60 mg/m2 iv over 1h q2w x4');
  // An interval added to a single dose goes before `at TIME`; emptying it removes it.
  assert.equal(withRegimenParts('50 mg at 12h', { dose: '50', every: '24h', cycles: '3' }), '50 mg q24h x3 at 12h');
  assert.equal(withRegimenParts('100 mg q24h x7', { dose: '100', every: '', cycles: '' }), '100 mg');
  assert.equal(regimenParts('100 mg cmt=2 bid x14').every, 'bid');
  assert.equal(regimenParts('iv 100 mg'), null);
  assert.equal(regimenParts('50 mg at 12h; 100 mg q12h x4 at 24h'), null);
  assert.equal(withRegimenParts('@doses.csv', { dose: '1', every: '', cycles: '' }), '@doses.csv');
});

test('verdicts.json takes complete reports only, sorted, and is empty without reports', () => {
  const tool = join(root, 'wasm/tools/verdicts.mjs');
  assert.deepEqual(JSON.parse(execFileSync('node', [tool], { encoding: 'utf8' })), { schema: 'twinsim.widget.verdicts/1', reports: [] });
  const dir = mkdtempSync(join(tmpdir(), 'verdicts-'));
  try {
    const write = (path, body) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), typeof body === 'string' ? body : JSON.stringify(body));
    };
    write('b/report.json', { verdict: 'FAIL', report_id: 'r2', model: { id: 'pheno', version: '2', hash: 'h2' } });
    write('a/report.json', { verdict: 'PASS', model: { id: 'pheno', version: '1', hash: 'h1' } });
    write('c/report.json', { model: { id: 'pheno', version: '3', hash: 'h3' } });
    write('d/report.json', '{ not json');
    write('e/notes.json', { verdict: 'PASS', model: { id: 'x', version: '1', hash: 'h' } });
    const out = execFileSync('node', [tool, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.deepEqual(JSON.parse(out).reports, [
      { model: 'pheno', version: '1', hash: 'h1', verdict: 'PASS', report_id: null, path: 'a/report.json' },
      { model: 'pheno', version: '2', hash: 'h2', verdict: 'FAIL', report_id: 'r2', path: 'b/report.json' },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
