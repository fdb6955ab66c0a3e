import { describe, expect, it } from 'vitest';
import { TurnBudget } from './turnBudget';

describe('TurnBudget', () => {
  it('lets through at most its number of callers per turn of the event loop, in order, the rest in the turns after', async () => {
    const budget = new TurnBudget(4);
    const passed: { i: number; turn: number }[] = [];
    // Counts the turns: an immediate that queues the next runs once per turn.
    let turn = 0;
    let counting = true;
    const count = () => {
      turn++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    await Promise.all(Array.from({ length: 10 }, (_, i) => budget.pass().then(() => passed.push({ i, turn }))));
    counting = false;
    expect(passed.map((p) => p.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const turns = [...new Set(passed.map((p) => p.turn))];
    expect(turns).toHaveLength(3);
    expect(passed.filter((p) => p.turn === turns[0])).toHaveLength(4);
    expect(passed.filter((p) => p.turn === turns[1])).toHaveLength(4);
    expect(passed.filter((p) => p.turn === turns[2])).toHaveLength(2);
  });

  it('lets a lone caller through at the next turn', async () => {
    const budget = new TurnBudget(1);
    let passed = false;
    const done = budget.pass().then(() => (passed = true));
    expect(passed).toBe(false);
    await done;
    expect(passed).toBe(true);
  });
});
