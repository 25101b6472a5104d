import "./locale";
import { mount } from "svelte";
import App from "./App.svelte";
import "./app.css";

const target = document.getElementById("app");
if (!target) throw new Error("#app is missing from index.html");
const app = mount(App, { target });
// The first frame after the first screen: `ebb bench` times the app's start to this mark.
requestAnimationFrame(() => performance.mark("ebb-first-screen"));
export default app;
