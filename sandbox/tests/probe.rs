use sandbox::*;
use std::time::*;
#[tokio::test]
async fn probe() {
    let l = Limits { cpu_time: Duration::from_millis(300), wall_time: Duration::from_secs(3), ..Limits::default() };
    let cases = [
        "return 1 +",
        "await 1",
        "return typeof Proxy",
        "return new Array(2**32-1).indexOf(1)",
        "return [].indexOf.call({length: 2**53-1}, 1)",
        "let n = 0; return [].indexOf.call({get length() { return n++ ? 2**53-1 : 0 }}, 1)",
        "return [].join.call({length: 2**53-1}, '')",
        "let n=0; [].forEach.call({length: 2**53-1}, x=>n++); return n",
        "return [new Array(2**32-1)].flat().length",
        "return [1,2].flatMap(() => new Array(2**32-1)).length",
        "return [].concat({length: 2**53-1, [Symbol.isConcatSpreadable]: true}).length",
        "return [].concat(...Array(1000).fill(new Array(1e6))).length",
        "return [3,1,2].sort()",
        "return [3,1,10,2].toSorted()",
        "return [[1,[2,[3]]],4].flat(Infinity)",
        "return [1,2,3].flatMap(x => [x, [x*2]])",
        "return [1,2].concat([3], 4, [[5]])",
        "return Array.prototype.indexOf.length + ',' + Array.prototype.indexOf.name + ',' + [].reduce.length",
        "const a = [1,2,3]; return a.reverse() === a",
        "const o = {length: 2, 0: 'a', 1: 'b'}; return [Array.prototype.reverse.call(o) === o, o[0], Array.prototype.join.call(o, '-')]",
        "return Array.prototype.map.call('abc', c => c.toUpperCase())",
        "return Array.prototype.slice.call({length: 3, 0: 1, 2: 3})",
        "return Math.max.apply(null, {length: 2**32-1})",
        "return ''.repeat(2**30) + 'x'.padEnd(2**30, '')",
        "return /(a+)+$/.test('a'.repeat(40)+'b')",
    ];
    for c in cases {
        let t = Instant::now();
        let r = run(c, &serde_json::json!({"x": 1}), &l).await;
        let s = format!("{r:?}");
        println!("{c:?}\n   => [{:?}] {}", t.elapsed(), &s[..s.len().min(300)]);
    }
    println!("abandoned {}", abandoned_threads());
}
