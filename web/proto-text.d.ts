// esbuild bundles .proto files as text (loader '.proto': 'text' in src/demo/static.ts).
declare module '*.proto' {
  const text: string;
  export default text;
}
