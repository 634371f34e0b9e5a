// Trusted set-up, evaluated in every fresh context before the user's code runs.
//
// QuickJS's native Array.prototype methods loop over `length` in C without polling the interrupt
// handler, so `[].indexOf.call({ length: 2 ** 53 - 1 }, 1)` or a sparse `new Array(2 ** 32 - 1)`
// would run far past the CPU limit. The wrappers below keep the native fast path for genuine
// arrays of modest length only; anything else is handed to the native method as a view whose
// traps are JavaScript functions, which the interpreter does poll (a callback's third argument
// is then that view, not the array-like itself). `flat`, `flatMap` and `concat` (which also walk
// nested or argument array-likes) are written in JavaScript. `Proxy` is removed
// from the global scope, so the only proxies in the sandbox are these views, and `Array.isArray`
// is true only for genuine arrays (or views of them). Everything is captured up front: later
// changes the user's code makes to globals or prototypes cannot reach into these functions.
(function () {
  'use strict';
  const NATIVE_MAX = 1 << 20;
  const MAX_LENGTH = 2 ** 53 - 1;
  const ProxyCtor = Proxy;
  const ArrayCtor = Array;
  const ObjectCtor = Object;
  const TypeErr = TypeError;
  const StringCtor = String;
  const apply = Reflect.apply;
  const reflectGet = Reflect.get;
  const reflectHas = Reflect.has;
  const defineProperty = Object.defineProperty;
  const create = Object.create;
  const isArray = Array.isArray;
  const floor = Math.floor;
  const spreadable = Symbol.isConcatSpreadable;
  const proto = Array.prototype;

  delete globalThis.Proxy;

  function toLength(value) {
    const n = +value;
    if (!(n > 0)) return 0;
    return n >= MAX_LENGTH ? MAX_LENGTH : floor(n);
  }

  function objectOf(value) {
    return value === null || value === undefined ? value : ObjectCtor(value);
  }

  function isObject(value) {
    return (typeof value === 'object' && value !== null) || typeof value === 'function';
  }

  // `target` as seen by native code: its length is fixed and every element access is a call.
  function view(target, length) {
    const handler = create(null);
    handler.get = function (t, key) {
      return key === 'length' ? length : reflectGet(t, key, t);
    };
    handler.has = function (t, key) {
      return reflectHas(t, key);
    };
    return new ProxyCtor(target, handler);
  }

  // `object` when a native loop over it is short, else a view of it.
  function bounded(object) {
    if (!isObject(object)) return object;
    if (isArray(object) && object.length <= NATIVE_MAX) return object;
    return view(object, toLength(object.length));
  }

  function define(target, index, value) {
    defineProperty(target, index, { value, writable: true, enumerable: true, configurable: true });
  }

  function install(name, method) {
    defineProperty(method, 'length', { value: proto[name].length });
    defineProperty(proto, name, { value: method, writable: true, configurable: true });
  }

  function guard(name, prepare) {
    const original = proto[name];
    const method = {
      [name](...args) {
        const object = objectOf(this);
        const self = bounded(object);
        if (prepare !== undefined) prepare(args);
        const result = apply(original, self, args);
        return result === self ? object : result;
      },
    }[name];
    install(name, method);
  }

  // The default sort order, as a JavaScript call per comparison (undefined is handled by sort).
  function defaultCompare(a, b) {
    const x = StringCtor(a);
    const y = StringCtor(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function withDefaultCompare(args) {
    if (args[0] === undefined) define(args, 0, defaultCompare);
  }

  const looping = [
    'copyWithin', 'every', 'fill', 'filter', 'find', 'findIndex', 'findLast', 'findLastIndex',
    'forEach', 'includes', 'indexOf', 'join', 'lastIndexOf', 'map', 'reduce', 'reduceRight',
    'reverse', 'shift', 'slice', 'some', 'splice', 'toLocaleString', 'toReversed', 'toSpliced',
    'unshift', 'with',
  ];
  for (let i = 0; i < looping.length; i++) {
    if (typeof proto[looping[i]] === 'function') guard(looping[i]);
  }
  guard('sort', withDefaultCompare);
  if (typeof proto.toSorted === 'function') guard('toSorted', withDefaultCompare);

  function flattenInto(target, index, source, depth, mapper, thisArg) {
    const length = toLength(source.length);
    for (let i = 0; i < length; i++) {
      if (!(i in source)) continue;
      let element = source[i];
      if (mapper !== undefined) element = apply(mapper, thisArg, [element, i, source]);
      if (depth > 0 && isArray(element)) {
        index = flattenInto(target, index, element, depth - 1);
      } else {
        define(target, index++, element);
      }
    }
    return index;
  }

  install('flat', {
    flat(depth) {
      const object = objectOf(this);
      if (object === null || object === undefined) throw new TypeErr('flat called on null or undefined');
      let d = depth === undefined ? 1 : +depth;
      d = d > 0 ? (d === Infinity ? d : floor(d)) : 0;
      const target = new ArrayCtor(0);
      target.length = flattenInto(target, 0, object, d);
      return target;
    },
  }.flat);

  install('flatMap', {
    flatMap(mapper, thisArg) {
      const object = objectOf(this);
      if (object === null || object === undefined) throw new TypeErr('flatMap called on null or undefined');
      if (typeof mapper !== 'function') throw new TypeErr('flatMap mapper is not a function');
      const target = new ArrayCtor(0);
      target.length = flattenInto(target, 0, object, 1, mapper, thisArg);
      return target;
    },
  }.flatMap);

  function isSpreadable(value) {
    if (!isObject(value)) return false;
    const flag = value[spreadable];
    return flag !== undefined ? !!flag : isArray(value);
  }

  const nativeConcat = proto.concat;
  install('concat', {
    concat(...items) {
      const object = objectOf(this);
      if (object === null || object === undefined) throw new TypeErr('concat called on null or undefined');
      // Native when every part is a primitive or a genuine array and the total is short.
      let native = isArray(object);
      let total = native ? object.length : 0;
      for (let i = 0; native && i < items.length; i++) {
        if (isArray(items[i])) total += items[i].length;
        else if (isObject(items[i])) native = false;
      }
      if (native && total <= NATIVE_MAX) return apply(nativeConcat, object, items);
      const target = new ArrayCtor(0);
      let n = 0;
      for (let i = -1; i < items.length; i++) {
        const part = i < 0 ? object : items[i];
        if (isSpreadable(part)) {
          const length = toLength(part.length);
          for (let k = 0; k < length; k++, n++) {
            if (k in part) define(target, n, part[k]);
          }
        } else {
          define(target, n++, part);
        }
      }
      target.length = n;
      return target;
    },
  }.concat);
})();
