import { scheduleStages } from './scheduler.js';

const stage = (index: number, dependsOn: number[] = []) => ({ index, dependsOn });
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('scheduleStages', () => {
  it('runs each stage after its dependencies, independent ones at the same time', async () => {
    const log: string[] = [];
    let running = 0;
    let peak = 0;
    const results = await scheduleStages(
      [stage(0), stage(1), stage(2, [0, 1]), stage(3)],
      [2],
      async (s) => {
        running++;
        peak = Math.max(peak, running);
        log.push(`start ${s.index}`);
        await tick();
        log.push(`end ${s.index}`);
        running--;
        return s.index * 10;
      },
      { concurrency: 4 },
    );
    expect([...results.entries()].sort()).toEqual([[0, 0], [1, 10], [2, 20]]);
    expect(log.indexOf('start 2')).toBeGreaterThan(log.indexOf('end 0'));
    expect(log.indexOf('start 2')).toBeGreaterThan(log.indexOf('end 1'));
    expect(log).not.toContain('start 3'); // not needed by the target
    expect(peak).toBe(2);
  });

  it('never runs more than `concurrency` stages at once', async () => {
    let running = 0;
    let peak = 0;
    await scheduleStages(
      [0, 1, 2, 3, 4].map((i) => stage(i)),
      [0, 1, 2, 3, 4],
      async () => {
        peak = Math.max(peak, ++running);
        await tick();
        running--;
      },
      { concurrency: 2 },
    );
    expect(peak).toBe(2);
  });

  it('aborts the running siblings of a failed stage and throws its error', async () => {
    let siblingAborted = false;
    let laterRan = false;
    const boom = new Error('boom');
    await expect(
      scheduleStages(
        [stage(0), stage(1), stage(2, [1])],
        [0, 2],
        async (s, signal) => {
          if (s.index === 0) {
            await tick();
            throw boom;
          }
          if (s.index === 1) {
            await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
            siblingAborted = signal.aborted;
            return;
          }
          laterRan = true;
        },
        { concurrency: 4 },
      ),
    ).rejects.toBe(boom);
    expect(siblingAborted).toBe(true);
    expect(laterRan).toBe(false);
  });

  it('stops before starting anything when the build is aborted', async () => {
    const ac = new AbortController();
    ac.abort(new Error('cancelled'));
    let ran = false;
    await expect(scheduleStages([stage(0)], [0], async () => void (ran = true), { concurrency: 1, signal: ac.signal })).rejects.toThrow('cancelled');
    expect(ran).toBe(false);
  });
});
